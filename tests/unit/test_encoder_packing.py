"""Packing as pure functions: where texts go in packed rows, the way back, and the packed plan
(``encoder.packing``, ``batching.plan_batches(packed=True)``). No model runs here."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from simsearch.encoder.batching import PaddedBatch, collate, plan_batches
from simsearch.encoder.packing import (
    ROW_TOKENS,
    WIDTH_STEP,
    pack,
    pack_rows,
    packed_tokens,
    unpack,
)
from simsearch.encoder.tokenization import Tokenized

LENGTHS = st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=80)


def _batch(lengths: list[int], pair_at: int | None = None) -> PaddedBatch:
    """Right-padded rows whose ids encode (row, position); row ``pair_at`` has a segment B."""
    rows = []
    for r, n in enumerate(lengths):
        ids = torch.arange(n, dtype=torch.int64) + 1000 * (r + 1)
        types = torch.zeros(n, dtype=torch.int64)
        if r == pair_at:
            types[n // 2 :] = 1
        offsets = np.zeros((n, 2), dtype=np.int64)
        rows.append(Tokenized(ids.numpy(), types.numpy(), offsets, np.zeros(n, dtype=bool)))
    return collate(rows, pad_id=0)


@settings(max_examples=200, deadline=None)
@given(LENGTHS, st.sampled_from([16, 64, ROW_TOKENS]))
def test_pack_rows_places_every_text_once_within_the_capacity(
    lengths: list[int], row_tokens: int
) -> None:
    rows = pack_rows(lengths, row_tokens)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    capacity = max(row_tokens, *lengths)
    assert all(sum(lengths[i] for i in row) <= capacity for row in rows)
    assert rows == pack_rows(list(lengths), row_tokens)  # a pure function of the lengths
    # Longest first: a row's texts come in non-increasing length, and each row's first text
    # did not fit in any row before it when it was placed (first fit opens rows in order).
    for row in rows:
        assert [lengths[i] for i in row] == sorted((lengths[i] for i in row), reverse=True)
    firsts = [lengths[row[0]] for row in rows]
    assert firsts == sorted(firsts, reverse=True)


def test_a_text_over_the_row_length_gets_a_row_of_its_own() -> None:
    # 300 fills a row of its own length; the others share a second row.
    assert pack_rows([10, 300, 20, 100], row_tokens=128) == [[1], [3, 2, 0]]
    assert pack_rows([100, 100, 100], row_tokens=128) == [[0], [1], [2]]
    assert pack_rows([60, 60, 8], row_tokens=128) == [[0, 1, 2]]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=70), min_size=1, max_size=40))
def test_pack_then_unpack_gives_back_the_padded_batch(lengths: list[int]) -> None:
    batch = _batch(lengths, pair_at=0)
    packed = pack(batch, row_tokens=64)
    rows, width = packed.input_ids.shape
    assert width % WIDTH_STEP == 0 and width - WIDTH_STEP < max(64, *lengths)
    assert rows * width == packed_tokens(lengths, row_tokens=64)
    # The packed ids as a (rows, width, 1) "hidden state" come back as the padded ids.
    hidden = torch.from_numpy(packed.input_ids).unsqueeze(-1).float()
    back = unpack(hidden, packed).squeeze(-1).long()
    assert torch.equal(back, batch.input_ids * batch.attention_mask)
    types = unpack(torch.from_numpy(packed.token_type_ids).unsqueeze(-1).float(), packed)
    assert torch.equal(types.squeeze(-1).long(), batch.token_type_ids)
    # Each text: positions restart at 0, one segment of its own in its row, [CLS] first.
    flat_ids = packed.input_ids.reshape(-1)
    flat_positions = packed.position_ids.reshape(-1)
    flat_segments = packed.segment_ids.reshape(-1)
    for i, n in enumerate(lengths):
        start = int(packed.cls_index[i])
        assert flat_ids[start] == batch.input_ids[i, 0]
        assert flat_positions[start : start + n].tolist() == list(range(n))
        segment = flat_segments[start : start + n]
        assert (segment == segment[0]).all() and segment[0] > 0
    # Segments within a row are distinct texts; padding is segment 0 and nothing else.
    real = int(batch.attention_mask.sum())
    assert int((packed.segment_ids > 0).sum()) == real
    assert int((packed.input_ids[packed.segment_ids == 0] != 0).sum()) == 0


def test_one_text_packs_into_one_row_of_its_length_rounded_up() -> None:
    packed = pack(_batch([7]))
    assert packed.input_ids.shape == (1, WIDTH_STEP)
    assert packed.segment_ids.tolist() == [[1] * 7 + [0] * (WIDTH_STEP - 7)]
    assert packed.position_ids[0, :7].tolist() == list(range(7))
    assert packed.cls_index.tolist() == [0]


@settings(max_examples=200, deadline=None)
@given(LENGTHS, st.integers(1, 64), st.one_of(st.none(), st.integers(1, 4096)))
def test_packed_plan_fills_each_pass_as_the_bounds_allow(
    lengths: list[int], batch_size: int, batch_tokens: int | None
) -> None:
    plan = plan_batches(lengths, batch_size, batch_tokens, packed=True)
    assert plan == plan_batches(list(lengths), batch_size, batch_tokens, 1e9, packed=True)
    assert sorted(i for batch in plan for i in batch) == list(range(len(lengths)))
    flat = [i for batch in plan for i in batch]
    assert [lengths[i] for i in flat] == sorted(lengths)  # shortest first
    for batch in plan:
        tokens = sum(lengths[i] for i in batch)
        assert len(batch) <= batch_size
        assert batch_tokens is None or tokens <= batch_tokens or len(batch) == 1
    for batch, following in itertools.pairwise(plan):
        # Cut only where the next text would break a bound.
        tokens = sum(lengths[i] for i in batch)
        assert len(batch) == batch_size or (
            batch_tokens is not None and tokens + lengths[following[0]] > batch_tokens
        )


def test_a_call_of_64_sentences_is_one_packed_pass() -> None:
    lengths = [5 + (7 * i) % 40 for i in range(64)]
    assert plan_batches(lengths, 64, 8192, packed=True) == [
        sorted(range(64), key=lambda i: lengths[i])
    ]
    # The padded plan cuts the same call for padding.
    assert len(plan_batches(lengths, 64, 8192, pass_tokens=16.0)) > 1
