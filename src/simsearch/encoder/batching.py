"""Group tokenized inputs into length-sorted batches and pad each batch for the model.

Sorting by length keeps padding small; each batch is padded on the right to its own longest
input, and the attention mask hides the padding, so an input embeds the same in any batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from simsearch.encoder.tokenization import Tokenized

__all__ = ["PaddedBatch", "collate", "plan_batches"]


@dataclass(frozen=True)
class PaddedBatch:
    """Model inputs for some of a request's inputs.

    indices: the position in the request of each row.
    input_ids, token_type_ids, attention_mask: ``(b, L) int64``, L the longest row, padded
        on the right (attention_mask 0 on padding).
    """

    indices: tuple[int, ...]
    input_ids: torch.Tensor
    token_type_ids: torch.Tensor
    attention_mask: torch.Tensor

    @property
    def lengths(self) -> list[int]:
        """Real (non-padding) tokens in each row."""
        return [int(n) for n in self.attention_mask.sum(dim=1).tolist()]


def plan_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of at most ``batch_size``, shortest inputs first."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def collate(items: Sequence[Tokenized], indices: Sequence[int], pad_id: int) -> PaddedBatch:
    """Pad ``items[i]`` for i in ``indices`` into one right-padded batch."""
    rows = [items[i] for i in indices]
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.int64)
    token_type_ids = torch.zeros((len(rows), width), dtype=torch.int64)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.int64)
    for r, row in enumerate(rows):
        n = len(row)
        input_ids[r, :n] = torch.from_numpy(row.input_ids)
        token_type_ids[r, :n] = torch.from_numpy(row.token_type_ids)
        attention_mask[r, :n] = 1
    return PaddedBatch(tuple(indices), input_ids, token_type_ids, attention_mask)
