"""Truncation is explicit: over-long inputs fail the call unless the caller asks to cut them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simsearch.encoder import BertEncoder, load_encoder
from simsearch.errors import InvalidArgumentError
from simsearch.types import Pooling, TextInput
from support.reference import Reference, assert_close

# 72 words, one token each: 74 tokens with [CLS] and [SEP], over the tiny model's 64.
TOO_LONG = " ".join(["the cat sits on the mat"] * 12)
PAIR_TOO_LONG: TextInput = ("the dog " * 20, "a man plays the guitar " * 5)  # 40 + 25 tokens


def _token_count(reference: Reference, text: TextInput) -> int:
    first, second = (text, None) if isinstance(text, str) else text
    return len(reference.tokenizer(first, text_pair=second)["input_ids"])


def test_tiny_model_limit_is_its_position_limit(
    tiny_encoder: BertEncoder, reference: Reference
) -> None:
    assert tiny_encoder.info.max_length == 64
    assert _token_count(reference, TOO_LONG) == 74
    assert _token_count(reference, PAIR_TOO_LONG) == 68


@pytest.mark.parametrize("pooling", list(Pooling))
def test_too_long_raises_naming_index_count_and_limit(
    tiny_encoder: BertEncoder, reference: Reference, pooling: Pooling
) -> None:
    count = _token_count(reference, TOO_LONG)
    with pytest.raises(InvalidArgumentError) as caught:
        tiny_encoder.encode(["hello", "a cat", TOO_LONG], pooling, normalize=True, truncate=False)
    message = str(caught.value)
    assert f"input 2 has {count} tokens" in message
    assert "limit is 64" in message
    assert "truncat" in message


def test_too_long_raises_for_tokens_and_pairs(tiny_encoder: BertEncoder) -> None:
    with pytest.raises(InvalidArgumentError, match=r"input 1 has \d+ tokens.*limit is 64"):
        tiny_encoder.encode_tokens(["hello", PAIR_TOO_LONG], truncate=False)


def test_error_counts_the_other_long_inputs(tiny_encoder: BertEncoder) -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"input 0 has 74 tokens \(1 other input too long as well\)"
    ):
        tiny_encoder.encode([TOO_LONG, "a", TOO_LONG], Pooling.MEAN, normalize=True, truncate=False)


@pytest.mark.parametrize("pooling", list(Pooling))
def test_truncate_cuts_reports_and_equals_tokenizer_truncation(
    tiny_encoder: BertEncoder, reference: Reference, pooling: Pooling
) -> None:
    inputs: list[TextInput] = ["hello", TOO_LONG, PAIR_TOO_LONG, ("a", "b")]
    result = tiny_encoder.encode(inputs, pooling, normalize=False, truncate=True)
    assert result.truncated == (1, 2)
    cut = {"truncation": "longest_first", "max_length": 64}
    expected = [getattr(reference, pooling.value)(text, **cut) for text in inputs]
    assert_close(result.embeddings, np.stack(expected))


def test_truncated_tokens_are_flagged_and_cut(
    tiny_encoder: BertEncoder, reference: Reference
) -> None:
    inputs: list[TextInput] = ["hello", TOO_LONG, PAIR_TOO_LONG]
    results = tiny_encoder.encode_tokens(inputs, truncate=True)
    assert [r.truncated for r in results] == [False, True, True]
    for text, result in zip(inputs, results, strict=True):
        expected = reference.tokens(text, truncation="longest_first", max_length=64)
        assert_close(result.embeddings, expected)
    assert len(results[1].tokens) == 64
    assert results[1].tokens[-1] == "[SEP]"
    pair = results[2]
    assert len(pair.tokens) == 64
    assert pair.segment_ids.tolist().count(1) > 0  # both segments survive longest_first


def test_fitting_input_is_not_reported(tiny_encoder: BertEncoder) -> None:
    result = tiny_encoder.encode(["hello world"], Pooling.CLS, normalize=True, truncate=True)
    assert result.truncated == ()


def test_max_length_override(tiny_model_dir: Path) -> None:
    short = load_encoder(str(tiny_model_dir), max_length=8)
    assert short.info.max_length == 8
    text = "the cat sits on the mat"  # 6 words: 8 tokens, exactly at the limit
    assert short.encode([text], Pooling.CLS, normalize=True, truncate=False).truncated == ()
    with pytest.raises(InvalidArgumentError, match=r"input 0 has 9 tokens.*limit is 8"):
        short.encode([text + " today"], Pooling.CLS, normalize=True, truncate=False)
    tokens = short.encode_tokens([text + " today"], truncate=True)[0]
    assert len(tokens.tokens) == 8
    assert tokens.truncated


def test_max_length_never_above_position_limit(tiny_model_dir: Path) -> None:
    assert load_encoder(str(tiny_model_dir), max_length=1000).info.max_length == 64
