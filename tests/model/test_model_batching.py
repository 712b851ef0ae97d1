"""Batching is invisible: a text embeds the same alone, in any batch, from any thread; the
plan cuts sorted rows where its cost model says, and the cost model learns from timed passes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simsearch.encoder import BertEncoder
from simsearch.encoder.batching import PASS_TOKENS, plan_batches
from simsearch.encoder.pass_cost import PassCostModel
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


def _cost(lengths: list[int], batches: list[list[int]], pass_tokens: float = PASS_TOKENS) -> float:
    return sum(pass_tokens + len(b) * max(lengths[i] for i in b) for b in batches)


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=512), max_size=80),
    batch_size=st.integers(min_value=1, max_value=64),
    batch_tokens=st.integers(min_value=1, max_value=4096),
    pass_tokens=st.sampled_from([0.0, 16.0, PASS_TOKENS, 2048.0]),
)
def test_plan_batches_bounds_rows_and_padded_tokens(
    lengths: list[int], batch_size: int, batch_tokens: int, pass_tokens: float
) -> None:
    batches = plan_batches(lengths, batch_size, batch_tokens, pass_tokens)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert all(batch for batch in batches)
    order = [lengths[i] for batch in batches for i in batch]
    assert order == sorted(order)  # shortest first, so each batch pads little
    for batch in batches:
        padded = len(batch) * max(lengths[i] for i in batch)
        assert len(batch) <= batch_size
        assert padded <= batch_tokens or len(batch) == 1  # a row over the budget runs alone
    greedy = _greedy(lengths, batch_size, batch_tokens)
    assert _cost(lengths, batches, pass_tokens) <= _cost(lengths, greedy, pass_tokens)


@settings(max_examples=100, deadline=None)
@given(lengths=st.lists(st.integers(min_value=1, max_value=128), min_size=1, max_size=80))
def test_dearer_passes_never_mean_more_passes(lengths: list[int]) -> None:
    counts = [len(plan_batches(lengths, 64, 8192, cost)) for cost in (0.0, 64.0, 256.0, 1e6)]
    assert counts == sorted(counts, reverse=True)
    assert counts[-1] == -(-len(lengths) // 64)  # a pass dearer than any padding: full batches


def test_plan_batches_trades_padding_against_passes() -> None:
    # Eight short rows and one long: padding the short ones to 100 costs more than a pass.
    lengths = [5] * 8 + [100]
    assert plan_batches(lengths, 32, 8192, 64) == [list(range(8)), [8]]
    # Similar lengths: one pass beats two.
    assert plan_batches([10, 11, 12, 13], 32, 8192, 64) == [[0, 1, 2, 3]]
    # At most 3 rows: 2 + 2 (padded 22 + 26) beats 1 + 3 (10 + 39) and 3 + 1 (36 + 13).
    assert plan_batches([10, 11, 12, 13], 3, 8192, 64) == [[0, 1], [2, 3]]
    # Free passes: cut wherever the width changes; dear ones: one pass for all.
    assert plan_batches([4, 4, 9, 9], 32, 8192, 0) == [[0, 1], [2, 3]]
    assert plan_batches([4, 4, 9, 9], 32, 8192, 1000) == [[0, 1, 2, 3]]


# Token counts of STS-B test sentences 1728-1791 (sentence 1 and 2 of each pair, in file order;
# the bundled model's tokenizer): one of the 64-text calls of bench/encode.py.
_STS_CALL = [
    *[13, 13, 10, 14, 17, 14, 10, 11, 12, 11, 10, 8, 13, 12, 13, 10, 23, 23, 15, 15, 10, 9],
    *[9, 9, 11, 22, 13, 11, 8, 8, 27, 22, 32, 36, 17, 13, 22, 23, 28, 37, 36, 32, 33, 23],
    *[21, 16, 22, 26, 22, 30, 20, 20, 18, 18, 38, 34, 24, 35, 15, 20, 40, 42, 21, 30],
]


def test_a_64_text_request_of_sentences_is_not_cut_into_slivers() -> None:
    # Issue 10: at the old cost of 64 tokens a pass, each 64-text call became 3+ passes, which
    # ran 25% slower than sorted batches of 32. At the default cost it is at most two.
    assert len(plan_batches(_STS_CALL, 32, 8192, 64)) >= 3
    assert len(plan_batches(_STS_CALL, 64, 8192)) <= 2


# -- the pass cost model ---------------------------------------------------------------------


def test_pass_cost_is_the_prior_until_passes_of_several_sizes_are_seen() -> None:
    model = PassCostModel(prior=100.0)
    for _ in range(50):
        model.observe(512, 0.030)  # one size only: no slope to fit
    assert model.pass_tokens == 100.0


def test_pass_cost_fits_the_fixed_cost_of_a_pass_in_tokens() -> None:
    model = PassCostModel(prior=100.0)
    for tokens in [64, 256, 1024, 512, 128, 2048] * 4:
        model.observe(tokens, 0.004 + 0.00002 * tokens)  # 4 ms + 20 us a token: 200 tokens
    assert model.pass_tokens == pytest.approx(200.0, rel=1e-6)


def test_pass_cost_is_clamped_and_ignores_nonsense() -> None:
    model = PassCostModel(prior=100.0, low=16.0, high=1000.0)
    for tokens in [100, 1000] * 8:
        model.observe(tokens, 0.1 + 1e-6 * tokens)  # 100,000 tokens a pass
    assert model.pass_tokens == 1000.0
    model = PassCostModel(prior=100.0, low=16.0, high=1000.0)
    for tokens in [100, 1000] * 8:
        model.observe(tokens, 1e-3 * tokens)  # no fixed cost at all
        model.observe(0, 1.0)  # ignored: no tokens
        model.observe(tokens, -1.0)  # ignored: no time
    assert model.pass_tokens == 16.0


def test_pass_cost_shrugs_off_a_stall_and_follows_a_change() -> None:
    model = PassCostModel(prior=100.0, memory=64)
    sizes = [64, 256, 1024, 512, 128, 2048]
    for tokens in sizes * 4:
        model.observe(tokens, 0.004 + 0.00002 * tokens)  # 200 tokens
    model.observe(64, 5.0)  # the machine stalled for 5 s during one small pass
    assert 100.0 < model.pass_tokens < 400.0
    for tokens in sizes * 40:
        model.observe(tokens, 0.001 + 0.00002 * tokens)  # a faster engine: 50 tokens
    assert model.pass_tokens == pytest.approx(50.0, rel=0.05)


def test_pass_cost_model_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="prior"):
        PassCostModel(prior=10.0, low=16.0)
    with pytest.raises(ValueError, match="memory"):
        PassCostModel(memory=0)
