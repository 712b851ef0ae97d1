"""The encoder's vectors equal the tiny model run directly with transformers."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.encoder import BertEncoder
from simsearch.types import Pooling, TextInput
from support.reference import Reference, assert_close

TEXTS: list[TextInput] = [
    "the cat sits on the mat",
    "我喜欢北京",
    ("what is the weather today", "the sun is nice today"),
    "hello",
    ("a dog", "他是中国人"),
]


@pytest.mark.parametrize("pooling", list(Pooling))
def test_sentence_embeddings_equal_plain_transformers(
    tiny_encoder: BertEncoder, reference: Reference, pooling: Pooling
) -> None:
    expected = np.stack([getattr(reference, pooling.value)(text) for text in TEXTS])
    result = tiny_encoder.encode(TEXTS, pooling, normalize=False, truncate=False)
    assert result.embeddings.dtype == np.float32
    assert result.embeddings.shape == (len(TEXTS), 32)
    assert result.truncated == ()
    assert_close(result.embeddings, expected)


def test_pair_uses_token_types(tiny_encoder: BertEncoder, reference: Reference) -> None:
    pair = ("a dog", "the cat")
    encoding, _ = reference.outputs(pair)
    assert encoding["token_type_ids"][0].tolist() == [0, 0, 0, 0, 1, 1, 1]
    result = tiny_encoder.encode([pair], Pooling.CLS, normalize=False, truncate=False)
    assert_close(result.embeddings[0], reference.cls(pair))
    # Not the same as one text with both halves: segment B's token types matter.
    joined = tiny_encoder.encode(["a dog the cat"], Pooling.CLS, normalize=False, truncate=False)
    assert not np.allclose(result.embeddings[0], joined.embeddings[0], atol=1e-3)


@pytest.mark.parametrize("pooling", list(Pooling))
def test_normalize_gives_unit_rows_in_the_same_direction(
    tiny_encoder: BertEncoder, pooling: Pooling
) -> None:
    raw = tiny_encoder.encode(TEXTS, pooling, normalize=False, truncate=False).embeddings
    unit = tiny_encoder.encode(TEXTS, pooling, normalize=True, truncate=False).embeddings
    assert_close(np.linalg.norm(unit, axis=1), np.ones(len(TEXTS)))
    assert_close(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True))


def test_token_embeddings_equal_last_hidden_state(
    tiny_encoder: BertEncoder, reference: Reference
) -> None:
    results = tiny_encoder.encode_tokens(TEXTS, truncate=False)
    assert len(results) == len(TEXTS)
    for text, result in zip(TEXTS, results, strict=True):
        assert result.embeddings.dtype == np.float32
        assert_close(result.embeddings, reference.tokens(text))


def test_pooling_accepts_its_string_value(tiny_encoder: BertEncoder) -> None:
    by_enum = tiny_encoder.encode(["hello"], Pooling.MEAN, normalize=False, truncate=False)
    by_value = tiny_encoder.encode(["hello"], "mean", normalize=False, truncate=False)  # type: ignore[arg-type]
    assert_close(by_value.embeddings, by_enum.embeddings)
