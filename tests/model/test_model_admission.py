"""Before the model: ``admit`` sees each input's tokens, and texts the tokenizer reduces to
nothing are refused by the engine's content rule.

``admit`` is how the engine refuses a response too large to send before any model work; it
must see exactly the tokens the call would return, and an error it raises must stop the call
before a forward pass. The content rule (``validation.has_content``) is a Unicode-category
rule, so it is checked here against the tokenizer itself: every character BERT's tokenizer
drops (it makes no token) is one the rule does not count as content.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from simsearch.encoder import BertEncoder
from simsearch.engine.validation import has_content
from simsearch.errors import LimitExceededError
from simsearch.types import Pooling, TextInput, TokenEmbeddings

INPUTS: list[list[TextInput]] = [
    ["hello world", "我喜欢北京", "Xyzzy walked 42 miles!"],
    [("a cat sits on the mat", "a dog plays")],
    [" ".join(["dog"] * 100)],  # over the 64-token limit: cut when truncating
]


@pytest.mark.parametrize("inputs", INPUTS)
def test_admit_sees_the_tokens_returned(tiny_encoder: BertEncoder, inputs: list[TextInput]) -> None:
    seen: list[Sequence[TokenEmbeddings]] = []
    for call in (
        lambda: tiny_encoder.encode_tokens(inputs, truncate=True, admit=seen.append),
        lambda: tiny_encoder.encode_with_tokens(
            inputs, Pooling.MEAN, truncate=True, admit=seen.append
        )[1],
    ):
        returned = call()
        admitted = seen.pop()
        assert len(admitted) == len(returned) == len(inputs)
        for before, after in zip(admitted, returned, strict=True):
            assert before.embeddings.shape == (len(after.tokens), 0)
            assert after.embeddings.shape == (len(after.tokens), 32)
            assert before.tokens == after.tokens
            assert before.truncated == after.truncated
            for field in ("token_ids", "offsets", "special_mask", "segment_ids"):
                np.testing.assert_array_equal(getattr(before, field), getattr(after, field))


def test_a_refusal_from_admit_stops_the_call_before_the_model(
    tiny_encoder: BertEncoder, forward_passes: list[int]
) -> None:
    def refuse(tokens: Sequence[TokenEmbeddings]) -> None:
        raise LimitExceededError(f"{sum(len(t.tokens) for t in tokens)} tokens")

    with pytest.raises(LimitExceededError, match=r"^4 tokens$"):
        tiny_encoder.encode_tokens(["hello world"], truncate=False, admit=refuse)
    with pytest.raises(LimitExceededError, match=r"^8 tokens$"):
        tiny_encoder.encode_with_tokens(
            ["hello world", "a cat"], Pooling.CLS, truncate=False, admit=refuse
        )
    assert forward_passes == []
    tiny_encoder.encode_tokens(["hello world"], truncate=False)
    assert forward_passes == [1]  # the hook sees the model when it does run


def _scanned() -> list[str]:
    """The Basic Multilingual Plane, the Supplementary one, plane 14 (tags, variation
    selectors) and the first private-use characters of planes 15 and 16, surrogates excluded."""
    points = [
        *range(0x0, 0x20000),
        *range(0xE0000, 0xE1000),
        *range(0xF0000, 0xF0100),
        *range(0x100000, 0x100100),
    ]
    return [chr(p) for p in points if not 0xD800 <= p <= 0xDFFF]


def dropped_characters(tokenizer_dir: Path, characters: list[str]) -> list[str]:
    """The characters the tokenizer makes no token of, each tried as a word of its own."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    text = " ".join(characters)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    covered = bytearray(len(text))
    for start, end in encoded["offset_mapping"]:
        covered[start:end] = b"\x01" * (end - start)
    return [char for i, char in enumerate(characters) if not covered[2 * i]]


def test_every_character_the_tokenizer_drops_is_not_content(tiny_model_dir: Path) -> None:
    characters = _scanned()
    dropped = dropped_characters(tiny_model_dir, characters)
    assert len(dropped) > 5_000  # controls, format and private-use characters, accents
    counted = [f"U+{ord(char):04X}" for char in dropped if has_content(char)]
    assert counted == []
    assert sys.maxunicode == 0x10FFFF
