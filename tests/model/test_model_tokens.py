"""Token embeddings carry tokens, ids, character offsets, special-token and segment masks."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.encoder import BertEncoder
from simsearch.types import TextInput, TokenEmbeddings
from support.reference import Reference


def _assert_offsets_match(text: str, result: TokenEmbeddings, segment: int = 0) -> None:
    offsets = result.offsets.tolist()
    rows = zip(result.tokens, offsets, result.special_mask, result.segment_ids, strict=True)
    for token, (start, end), special, segment_id in rows:
        if special or segment_id != segment:
            continue
        assert text[start:end].lower() == token.removeprefix("##"), (token, start, end)


@pytest.mark.parametrize(
    "text",
    [
        "The quick brown fox jumps over the lazy dog.",
        "Hello, World! Searching embeddings today?",
        "Xyzzy walked 42 miles",  # wordpieces: x ##y ##z ...
        "  leading spaces,and punctuation!",
    ],
)
def test_english_offsets_index_the_text(tiny_encoder: BertEncoder, text: str) -> None:
    result = tiny_encoder.encode_tokens([text], truncate=False)[0]
    assert "[UNK]" not in result.tokens
    _assert_offsets_match(text, result)


def test_chinese_is_one_character_per_token(tiny_encoder: BertEncoder) -> None:
    text = "我喜欢北京"
    result = tiny_encoder.encode_tokens([text], truncate=False)[0]
    assert result.tokens == ("[CLS]", "我", "喜", "欢", "北", "京", "[SEP]")
    assert result.offsets.tolist() == [[0, 0], [0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [0, 0]]
    _assert_offsets_match(text, result)


def test_mixed_chinese_and_english(tiny_encoder: BertEncoder) -> None:
    text = "我喜欢 learning 语言模型!"
    result = tiny_encoder.encode_tokens([text], truncate=False)[0]
    assert "[UNK]" not in result.tokens
    _assert_offsets_match(text, result)


def test_special_tokens_are_masked_with_zero_offsets(
    tiny_encoder: BertEncoder, reference: Reference
) -> None:
    result = tiny_encoder.encode_tokens(["hello world"], truncate=False)[0]
    assert result.tokens == ("[CLS]", "hello", "world", "[SEP]")
    assert result.special_mask.dtype == np.bool_
    assert result.special_mask.tolist() == [True, False, False, True]
    assert result.offsets[result.special_mask].tolist() == [[0, 0], [0, 0]]
    ids = reference.tokenizer.convert_tokens_to_ids(list(result.tokens))
    assert result.token_ids.tolist() == ids


def test_dtypes_and_shapes(tiny_encoder: BertEncoder) -> None:
    result = tiny_encoder.encode_tokens([("a cat", "我是")], truncate=False)[0]
    n = len(result.tokens)
    assert result.embeddings.shape == (n, 32) and result.embeddings.dtype == np.float32
    assert result.token_ids.shape == (n,) and result.token_ids.dtype == np.int64
    assert result.offsets.shape == (n, 2) and result.offsets.dtype == np.int64
    assert result.segment_ids.shape == (n,) and result.segment_ids.dtype == np.int64
    assert result.special_mask.shape == (n,)
    assert not result.truncated


def test_pair_segments_and_offsets(tiny_encoder: BertEncoder) -> None:
    first, second = "The cat sits.", "我喜欢 the dog"
    result = tiny_encoder.encode_tokens([(first, second)], truncate=False)[0]
    assert result.tokens == (
        "[CLS]", "the", "cat", "sits", ".", "[SEP]", "我", "喜", "欢", "the", "dog", "[SEP]"
    )  # fmt: skip
    assert result.segment_ids.tolist() == [0] * 6 + [1] * 6
    assert result.special_mask.tolist() == [True] + [False] * 4 + [True] + [False] * 5 + [True]
    _assert_offsets_match(first, result, segment=0)
    _assert_offsets_match(second, result, segment=1)
    assert result.offsets[9].tolist() == [4, 7]  # "the" in segment B's own text


def test_batch_mixes_texts_and_pairs_in_input_order(tiny_encoder: BertEncoder) -> None:
    inputs: list[TextInput] = ["hello", ("a", "b"), "我是", ("the cat", "the dog")]
    results = tiny_encoder.encode_tokens(inputs, truncate=False)
    assert [r.tokens for r in results] == [
        ("[CLS]", "hello", "[SEP]"),
        ("[CLS]", "a", "[SEP]", "b", "[SEP]"),
        ("[CLS]", "我", "是", "[SEP]"),
        ("[CLS]", "the", "cat", "[SEP]", "the", "dog", "[SEP]"),
    ]


def test_unknown_tokens_are_counted(tiny_encoder: BertEncoder) -> None:
    # The tiny vocabulary has no Greek: each word is one [UNK], and the count says so.
    known, unknown = tiny_encoder.encode_tokens(["hello world", "hello αβγ δεζ"], truncate=False)
    assert known.unknown_tokens == 0
    assert unknown.unknown_tokens == unknown.tokens.count("[UNK]") == 2
