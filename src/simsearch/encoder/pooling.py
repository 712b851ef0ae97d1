"""Pure torch functions that turn BERT's outputs into one vector per input.

Shapes: ``last_hidden_state`` is ``(b, L, d)``, ``attention_mask`` is ``(b, L)`` with 1 on
real tokens and 0 on padding, ``pooler_output`` is ``(b, d)``; every result is ``(b, d)``.
"""

from __future__ import annotations

import torch

from simsearch.errors import InvalidArgumentError
from simsearch.types import Pooling

__all__ = ["cls_pool", "l2_normalize", "mean_pool", "pool", "pooler_pool"]


def cls_pool(last_hidden_state: torch.Tensor) -> torch.Tensor:
    """The first token's hidden state (``[CLS]``): ``last_hidden_state[:, 0]``."""
    return last_hidden_state[:, 0]


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the hidden states of the real tokens; padding contributes nothing."""
    mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    total = (last_hidden_state * mask).sum(dim=1)
    count = mask.sum(dim=1).clamp(min=1.0)
    return total / count


def pooler_pool(pooler_output: torch.Tensor | None) -> torch.Tensor:
    """BERT's ``pooler_output`` = tanh(W · h_[CLS] + b); an error if the model has none."""
    if pooler_output is None:
        raise InvalidArgumentError(
            "the model has no pooler layer: ask for pooling 'cls' or 'mean' instead"
        )
    return pooler_output


def pool(
    pooling: Pooling,
    last_hidden_state: torch.Tensor,
    attention_mask: torch.Tensor,
    pooler_output: torch.Tensor | None,
) -> torch.Tensor:
    """Dispatch on ``pooling``; see :class:`simsearch.types.Pooling`."""
    if pooling is Pooling.POOLER:
        return pooler_pool(pooler_output)
    if pooling is Pooling.CLS:
        return cls_pool(last_hidden_state)
    if pooling is Pooling.MEAN:
        return mean_pool(last_hidden_state, attention_mask)
    raise InvalidArgumentError(f"unknown pooling {pooling!r}; use pooler, cls or mean")


def l2_normalize(vectors: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm; an all-zero row stays zero."""
    return torch.nn.functional.normalize(vectors, p=2.0, dim=1)
