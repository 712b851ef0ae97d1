"""Batching is invisible: a text embeds the same alone, in any batch, from any thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simsearch.encoder import BertEncoder
from simsearch.encoder.batching import PASS_TOKENS, plan_batches
from simsearch.types import Pooling, TextInput
from support.reference import Reference, assert_close

SHORT = "a cat"
LONG: list[TextInput] = [
    "the quick brown fox jumps over the lazy dog and the cat sits on the mat all day long",
    "我喜欢学习语言模型 and people like to search text with vectors and embeddings today",
    ("the man plays the guitar in the park", "a woman plays the piano on the street at night"),
    "children play with a ball on the beach while the sun is nice and the weather is good",
    "what is the weather in beijing and shanghai today and tomorrow, and where is the rain",
]


def _mixed_batch() -> list[TextInput]:
    """The short text in the middle of longer ones: more than one batch (batch_size 4)."""
    return [*LONG[:3], SHORT, *LONG[3:], ("a", "b"), "x"]


@pytest.mark.parametrize("pooling", list(Pooling))
def test_short_text_alone_equals_inside_batch_of_long_texts(
    tiny_encoder: BertEncoder, pooling: Pooling
) -> None:
    alone = tiny_encoder.encode([SHORT], pooling, normalize=False, truncate=False).embeddings[0]
    batch = _mixed_batch()
    together = tiny_encoder.encode(batch, pooling, normalize=False, truncate=False).embeddings
    assert_close(together[batch.index(SHORT)], alone)
    # The check is not vacuous: other inputs give clearly different vectors.
    assert not np.allclose(together[0], alone, atol=1e-2)


def test_every_input_equals_its_single_run_in_input_order(tiny_encoder: BertEncoder) -> None:
    batch = _mixed_batch()
    together = tiny_encoder.encode(batch, Pooling.POOLER, normalize=True, truncate=False)
    for index, text in enumerate(batch):
        alone = tiny_encoder.encode([text], Pooling.POOLER, normalize=True, truncate=False)
        assert_close(together.embeddings[index], alone.embeddings[0])


def test_token_embeddings_alone_equal_inside_batch(tiny_encoder: BertEncoder) -> None:
    batch = _mixed_batch()
    together = tiny_encoder.encode_tokens(batch, truncate=False)
    for text, result in zip(batch, together, strict=True):
        alone = tiny_encoder.encode_tokens([text], truncate=False)[0]
        assert result.tokens == alone.tokens
        assert_close(result.embeddings, alone.embeddings)


def test_padding_never_leaks_into_token_embeddings(
    tiny_encoder: BertEncoder, reference: Reference
) -> None:
    batch = _mixed_batch()
    results = tiny_encoder.encode_tokens(batch, truncate=False)
    for text, result in zip(batch, results, strict=True):
        first, second = (text, None) if isinstance(text, str) else text
        real_tokens = len(reference.tokenizer(first, text_pair=second)["input_ids"])
        assert result.embeddings.shape == (real_tokens, 32)
        n = real_tokens
        assert len(result.tokens) == n
        assert result.token_ids.shape == result.special_mask.shape == result.segment_ids.shape
        assert result.offsets.shape == (n, 2)
        assert "[PAD]" not in result.tokens


def test_batch_size_does_not_change_results(tiny_model_dir: object) -> None:
    from simsearch.encoder import load_encoder

    batch = _mixed_batch()
    one = load_encoder(str(tiny_model_dir), batch_size=1)
    many = load_encoder(str(tiny_model_dir), batch_size=64)
    for pooling in Pooling:
        a = one.encode(batch, pooling, normalize=False, truncate=False).embeddings
        b = many.encode(batch, pooling, normalize=False, truncate=False).embeddings
        assert_close(a, b)


def test_empty_batch(tiny_encoder: BertEncoder) -> None:
    result = tiny_encoder.encode([], Pooling.POOLER, normalize=True, truncate=False)
    assert result.embeddings.shape == (0, 32)
    assert result.embeddings.dtype == np.float32
    assert tiny_encoder.encode_tokens([], truncate=False) == []


def test_concurrent_callers_get_their_own_results(tiny_encoder: BertEncoder) -> None:
    batch = _mixed_batch()
    expected = {
        pooling: tiny_encoder.encode(batch, pooling, normalize=True, truncate=False).embeddings
        for pooling in Pooling
    }

    def run(pooling: Pooling) -> tuple[Pooling, np.ndarray]:
        result = tiny_encoder.encode(batch, pooling, normalize=True, truncate=False)
        return pooling, result.embeddings

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(run, list(Pooling) * 8))
    for pooling, embeddings in results:
        assert_close(embeddings, expected[pooling])


def _greedy(lengths: list[int], batch_size: int, batch_tokens: int) -> list[list[int]]:
    """Sorted rows, each batch filled up to its limits: the plan to beat."""
    batches: list[list[int]] = []
    for index in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        last = batches[-1] if batches else []
        if batches and len(last) < batch_size and (len(last) + 1) * lengths[index] <= batch_tokens:
            last.append(index)
            continue
        batches.append([index])
    return batches


def _cost(lengths: list[int], batches: list[list[int]]) -> int:
    return sum(PASS_TOKENS + len(b) * max(lengths[i] for i in b) for b in batches)


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=512), max_size=80),
    batch_size=st.integers(min_value=1, max_value=64),
    batch_tokens=st.integers(min_value=1, max_value=4096),
)
def test_plan_batches_bounds_rows_and_padded_tokens(
    lengths: list[int], batch_size: int, batch_tokens: int
) -> None:
    batches = plan_batches(lengths, batch_size, batch_tokens)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert all(batch for batch in batches)
    order = [lengths[i] for batch in batches for i in batch]
    assert order == sorted(order)  # shortest first, so each batch pads little
    for batch in batches:
        padded = len(batch) * max(lengths[i] for i in batch)
        assert len(batch) <= batch_size
        assert padded <= batch_tokens or len(batch) == 1  # a row over the budget runs alone
    assert _cost(lengths, batches) <= _cost(lengths, _greedy(lengths, batch_size, batch_tokens))


def test_plan_batches_trades_padding_against_passes() -> None:
    # Eight short rows and one long: padding the short ones to 100 costs more than a pass.
    lengths = [5] * 8 + [100]
    assert plan_batches(lengths, 32, 8192) == [list(range(8)), [8]]
    # Similar lengths: one pass beats two.
    assert plan_batches([10, 11, 12, 13], 32, 8192) == [[0, 1, 2, 3]]
    # At most 3 rows: 2 + 2 (padded 22 + 26) beats 1 + 3 (10 + 39) and 3 + 1 (36 + 13).
    assert plan_batches([10, 11, 12, 13], 3, 8192) == [[0, 1], [2, 3]]
