"""The one place the model runs: a forward pass per padded batch, one at a time.

The lock serialises forward passes from the server's many threads (a model is not safe to
call concurrently on every device, and parallel passes only fight over the same cores).
Cross-request batching would replace this class: gather batches from many callers, run them
together, hand each caller its rows back; the encoder above it would not change.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass
from typing import Any

import torch

from simsearch.encoder.batching import PaddedBatch

__all__ = ["ModelOutputs", "ModelRunner"]


@dataclass(frozen=True)
class ModelOutputs:
    """One batch's outputs on the model's device.

    last_hidden_state: ``(b, L, d)``; pooler_output: ``(b, d)``, None without a pooler;
    attention_mask: ``(b, L)``, 1 on real tokens.
    """

    last_hidden_state: torch.Tensor
    pooler_output: torch.Tensor | None
    attention_mask: torch.Tensor


class ModelRunner:
    """Runs a base model (already in eval mode, on ``device``) under a lock."""

    def __init__(self, model: Any, device: torch.device) -> None:
        self._model = model
        self._device = device
        self._lock = threading.Lock()
        parameters = inspect.signature(model.forward).parameters
        self._takes_token_types = "token_type_ids" in parameters

    @property
    def has_pooler(self) -> bool:
        """Whether the model has a (trained) pooler layer."""
        return getattr(self._model, "pooler", None) is not None

    def forward(self, batch: PaddedBatch) -> ModelOutputs:
        """Run one batch without autograd (``torch.inference_mode``)."""
        attention_mask = batch.attention_mask.to(self._device)
        inputs = {"input_ids": batch.input_ids.to(self._device), "attention_mask": attention_mask}
        if self._takes_token_types:
            inputs["token_type_ids"] = batch.token_type_ids.to(self._device)
        with self._lock, torch.inference_mode():
            outputs = self._model(**inputs)
        hidden: torch.Tensor = outputs.last_hidden_state
        pooled: torch.Tensor | None = getattr(outputs, "pooler_output", None)
        return ModelOutputs(hidden, pooled, attention_mask)
