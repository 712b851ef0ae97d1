"""Packed sequences: several texts in one model row, each still seeing only itself.

A padded batch (``batching.PaddedBatch``) computes every row to its longest text, and each
pass has a fixed cost besides. Packing concatenates texts into rows of about ``ROW_TOKENS``
tokens (first fit, longest first), so a pass computes little padding and a call of 64 short
texts is one pass of a few dense rows. What keeps a text's vectors those of the text alone:

- ``segment_ids`` numbers the texts of a row from 1 (0 on padding); the packed model lets a
  token attend only to tokens of its own segment (a block-diagonal attention mask built in
  the graph), so no token attends across texts or to padding;
- ``position_ids`` restart at 0 for each text; token types are kept (segment B of a pair);
- ``cls_index`` is each text's first token in the flattened ``(rows * width)`` layout: the
  pooler is applied to those rows.

The cost: attention over a packed row of width W is ~4·W·h FLOP per token per layer against
~24·h² for the linear layers (all-MiniLM-L6-v2: +5% at W = 128). Rows hold at most
``max(ROW_TOKENS, longest text)`` tokens, and are as wide as the fullest, rounded up to a
multiple of ``WIDTH_STEP`` so that shapes repeat. ``unpack`` puts the packed hidden states
back in the padded ``(b, L, d)`` layout (zeros on padding) that pooling and the scheduler
expect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from simsearch.encoder.batching import PaddedBatch

__all__ = [
    "PACKED_INPUTS",
    "PACKED_OUTPUTS",
    "ROW_TOKENS",
    "WIDTH_STEP",
    "PackedBatch",
    "pack",
    "pack_rows",
    "packed_tokens",
    "unpack",
]

# Measured on all-MiniLM-L6-v2 / OpenVINO bf16, 2 cores, STS-B test sentences in calls of 64
# (docs/engines.md): rows of 64 and 128 tokens ran alike, 256 ~15% slower (attention).
ROW_TOKENS = 128

# Packed widths are multiples of this, so input shapes repeat: the CPU plugin prepares
# kernels per shape and keeps 16 (``openvino_runner``); with every width its own shape, the
# load test's resident memory was still climbing after warm-up (+4.6-5.6% against the padded
# model's +1.4%). Costs at most 15 padding tokens a row.
WIDTH_STEP = 16

# The packed model's inputs, in the order they are traced, and its outputs, named as
# transformers names the padded model's (the runner finds both models' outputs by these).
PACKED_INPUTS = ("input_ids", "token_type_ids", "position_ids", "segment_ids", "cls_index")
PACKED_OUTPUTS = ("last_hidden_state", "pooler_output")

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PackedBatch:
    """A padded batch packed into rows; the model's inputs and the way back.

    input_ids, token_type_ids, position_ids, segment_ids: ``(rows, width) int64``;
    cls_index: ``(b,) int64``, text i's first token in the flattened ``rows * width`` layout;
    token_index: ``(b, L) int64``, text i's tokens there (its first token on padding);
    attention_mask: the padded batch's ``(b, L)`` mask.
    """

    input_ids: IntArray
    token_type_ids: IntArray
    position_ids: IntArray
    segment_ids: IntArray
    cls_index: IntArray
    token_index: torch.Tensor
    attention_mask: torch.Tensor

    @property
    def inputs(self) -> dict[str, IntArray]:
        """The packed model's inputs by name."""
        return {name: getattr(self, name) for name in PACKED_INPUTS}


def pack_rows(lengths: Sequence[int], row_tokens: int = ROW_TOKENS) -> list[list[int]]:
    """Text indices per row: first fit, longest first (ties in index order), into rows of at
    most ``max(row_tokens, longest)`` tokens. A pure function of the lengths."""
    if row_tokens <= 0:
        raise ValueError(f"row_tokens must be positive, got {row_tokens}")
    capacity = max(row_tokens, max(lengths, default=0))
    rows: list[list[int]] = []
    free: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        for r, room in enumerate(free):
            if lengths[i] <= room:
                rows[r].append(i)
                free[r] -= lengths[i]
                break
        else:
            rows.append([i])
            free.append(capacity - lengths[i])
    return rows


def packed_tokens(lengths: Sequence[int], row_tokens: int = ROW_TOKENS) -> int:
    """Tokens a packed pass over texts of ``lengths`` computes, padding included (rows x
    width): what ``rows x longest`` is for a padded pass."""
    rows = pack_rows(lengths, row_tokens)
    return len(rows) * _width(rows, lengths)


def _width(rows: Sequence[Sequence[int]], lengths: Sequence[int]) -> int:
    """Packed rows are as wide as the fullest, rounded up to a multiple of ``WIDTH_STEP``."""
    fullest = max((sum(lengths[i] for i in row) for row in rows), default=0)
    return -(-fullest // WIDTH_STEP) * WIDTH_STEP


def pack(batch: PaddedBatch, row_tokens: int = ROW_TOKENS) -> PackedBatch:
    """``batch`` (at least one row) packed into rows of about ``row_tokens`` tokens."""
    lengths = batch.lengths
    rows = pack_rows(lengths, row_tokens)
    width = _width(rows, lengths)
    # Where each text starts in the flattened packed layout.
    starts = np.zeros(len(lengths), dtype=np.int64)
    segments = np.zeros(len(lengths), dtype=np.int64)
    for r, row in enumerate(rows):
        offset = r * width
        for segment, i in enumerate(row, start=1):
            starts[i], segments[i] = offset, segment
            offset += lengths[i]
    padded_width = batch.input_ids.shape[1]
    mask = batch.attention_mask.numpy().astype(bool)
    steps = np.arange(padded_width, dtype=np.int64)
    token_index = starts[:, None] + steps[None, :]
    destination = token_index[mask]  # real tokens, row-major: text by text, in order
    packed = {}
    for name, source in (
        ("input_ids", batch.input_ids.numpy()[mask]),
        ("token_type_ids", batch.token_type_ids.numpy()[mask]),
        ("position_ids", np.broadcast_to(steps, mask.shape)[mask]),
        ("segment_ids", np.broadcast_to(segments[:, None], mask.shape)[mask]),
    ):
        flat = np.zeros(len(rows) * width, dtype=np.int64)
        flat[destination] = source
        packed[name] = flat.reshape(len(rows), width)
    return PackedBatch(
        **packed,
        cls_index=starts,
        token_index=torch.from_numpy(np.where(mask, token_index, starts[:, None])),
        attention_mask=batch.attention_mask,
    )


def unpack(hidden: torch.Tensor, packed: PackedBatch) -> torch.Tensor:
    """The packed ``(rows, width, d)`` hidden states as the padded ``(b, L, d)`` batch's,
    zeros on padding."""
    flat = hidden.reshape(-1, hidden.shape[-1])
    index = packed.token_index
    rows = flat.index_select(0, index.reshape(-1)).reshape(*index.shape, -1)
    return rows.mul_(packed.attention_mask.unsqueeze(-1).to(rows.dtype))
