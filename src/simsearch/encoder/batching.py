"""Group tokenized inputs into length-sorted batches and pad each batch for the model.

Sorting by length keeps padding small; each batch is padded on the right to its own longest
input, and the attention mask hides the padding, so an input embeds the same in any batch.
A batch is bounded twice: by rows (``batch_size``) and by a token budget, counted as rows x
padded length because that, not the real token count, is what the forward pass computes.
Where to cut the sorted rows into batches trades padding against passes (each pass has a
fixed cost, ``pass_tokens``; the scheduler learns it from timed passes, see
``encoder.pass_cost``): ``plan_batches`` picks the cheapest cut. It is a pure function of
the lengths and the cost, so plans are testable without a clock.

A runner that packs several texts per row (``ModelRunner.packs``, ``encoder.packing``)
computes little padding whatever the lengths, so cutting for padding only adds passes: for it
``plan_batches(..., packed=True)`` cuts the sorted rows only where a bound forces it, with
``batch_tokens`` counting real tokens (what a packed pass computes, give or take a row's
tail).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from simsearch.encoder.tokenization import Tokenized

__all__ = ["PASS_TOKENS", "PaddedBatch", "collate", "plan_batches"]

# The fixed cost of one forward pass, in padded tokens, before any pass has been timed: what
# a pass costs beyond its tokens (framework overhead, and small matrix products running
# slower per token than large ones). From the issue-10 measurement (torch bf16, 2 cores): 141
# passes over 44.1k padded tokens took ~1.3x as long as 87 passes over 39.6k, which a straight
# line explains with ~170-340 tokens a pass. (The old 64, from 1-row vs 32-row passes of 16
# tokens, cut 64-text requests into 3.3 passes each.)
PASS_TOKENS = 256.0


@dataclass(frozen=True)
class PaddedBatch:
    """Model inputs for some rows.

    input_ids, token_type_ids, attention_mask: ``(b, L) int64``, L the longest row, padded
        on the right (attention_mask 0 on padding).
    """

    input_ids: torch.Tensor
    token_type_ids: torch.Tensor
    attention_mask: torch.Tensor

    @property
    def lengths(self) -> list[int]:
        """Real (non-padding) tokens in each row."""
        return [int(n) for n in self.attention_mask.sum(dim=1).tolist()]


def plan_batches(
    lengths: Sequence[int],
    batch_size: int,
    batch_tokens: int | None = None,
    pass_tokens: float = PASS_TOKENS,
    *,
    packed: bool = False,
) -> list[list[int]]:
    """Indices grouped into batches of similar length, shortest first, at the least cost.

    Each batch has at most ``batch_size`` rows and, when ``batch_tokens`` is given, at most
    ``batch_tokens`` padded tokens (rows x its longest row); a row longer than the budget
    runs alone. Among such plans of the length-sorted rows cut into runs, it returns one that
    minimises the estimated time: padded tokens plus ``pass_tokens`` for each pass (dynamic
    programming over the cut points; ties go to fewer, larger batches).

    ``packed``: the batches of a packing runner: each as full as ``batch_size`` rows and
    ``batch_tokens`` real tokens allow (``pass_tokens`` is then moot).
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if batch_tokens is not None and batch_tokens <= 0:
        raise ValueError(f"batch_tokens must be positive, got {batch_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    if packed:
        return _fill_batches(order, lengths, batch_size, batch_tokens)
    widths = np.array([lengths[i] for i in order], dtype=np.int64)
    budget = batch_tokens if batch_tokens is not None else batch_size * max(widths, default=1)
    # cost[j]: least cost of the first j sorted rows; start[j]: where its last batch starts.
    cost = np.zeros(len(order) + 1, dtype=np.float64)
    start = np.zeros(len(order) + 1, dtype=np.int64)
    for end in range(1, len(order) + 1):
        width = int(widths[end - 1])  # the longest row of any batch ending here
        rows = min(batch_size, end, max(1, budget // width))
        starts = np.arange(end - rows, end)
        costs = cost[starts] + pass_tokens + (end - starts) * width
        best = int(np.argmin(costs))  # the first minimum: the largest batch
        cost[end], start[end] = costs[best], starts[best]
    batches: list[list[int]] = []
    end = len(order)
    while end > 0:
        batches.append(order[int(start[end]) : end])
        end = int(start[end])
    return batches[::-1]


def _fill_batches(
    order: Sequence[int], lengths: Sequence[int], batch_size: int, batch_tokens: int | None
) -> list[list[int]]:
    """``order`` cut into consecutive batches, each as full as the bounds allow (a row over
    ``batch_tokens`` runs alone)."""
    batches: list[list[int]] = []
    tokens = 0
    for i in order:
        if (
            not batches
            or len(batches[-1]) >= batch_size
            or (batch_tokens is not None and tokens + lengths[i] > batch_tokens)
        ):
            batches.append([])
            tokens = 0
        batches[-1].append(i)
        tokens += lengths[i]
    return batches


def collate(rows: Sequence[Tokenized], pad_id: int) -> PaddedBatch:
    """Pad ``rows`` (at least one) into one right-padded batch, in the order given."""
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.int64)
    token_type_ids = torch.zeros((len(rows), width), dtype=torch.int64)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.int64)
    for r, row in enumerate(rows):
        n = len(row)
        input_ids[r, :n] = torch.from_numpy(row.input_ids)
        token_type_ids[r, :n] = torch.from_numpy(row.token_type_ids)
        attention_mask[r, :n] = 1
    return PaddedBatch(input_ids, token_type_ids, attention_mask)
