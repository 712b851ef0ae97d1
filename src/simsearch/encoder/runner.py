"""The one place the model runs: a forward pass per padded batch, behind an engine seam.

:class:`ModelRunner` is the seam the scheduler sees: ``forward(PaddedBatch) -> ModelOutputs``,
``has_pooler`` and ``packs``. Each engine subclasses it (``TorchRunner`` here, ``OpenVinoRunner`` in
``encoder.openvino_runner``) and implements ``_run``; it is a base class rather than a
Protocol so that wrapping ``ModelRunner.forward`` (as the tests do to count passes) sees every
engine's passes.

Only the scheduler's worker thread calls :meth:`ModelRunner.forward`, so passes never overlap
(parallel passes would only fight over the same cores). Outputs are always float32. Every
pass counts towards the next heap trim (``encoder.memory``), so memory freed between passes
of different shapes goes back to the system, whatever the engine.
"""

from __future__ import annotations

import abc
import contextlib
import inspect
from dataclasses import dataclass
from typing import Any

import torch

from simsearch.encoder.batching import PaddedBatch
from simsearch.encoder.memory import HeapTrimmer

__all__ = ["ModelOutputs", "ModelRunner", "TorchRunner"]


@dataclass(frozen=True)
class ModelOutputs:
    """One batch's outputs, float32, on the model's device.

    last_hidden_state: ``(b, L, d)``; pooler_output: ``(b, d)``, None without a pooler;
    attention_mask: ``(b, L)``, 1 on real tokens.
    """

    last_hidden_state: torch.Tensor
    pooler_output: torch.Tensor | None
    attention_mask: torch.Tensor


class ModelRunner(abc.ABC):
    """Runs one model for the scheduler's worker thread; not for concurrent calls."""

    def __init__(self) -> None:
        self._trimmer = HeapTrimmer()

    @property
    @abc.abstractmethod
    def has_pooler(self) -> bool:
        """Whether the model has a (trained) pooler layer."""

    @property
    def packs(self) -> bool:
        """Whether passes pack several texts per row (``encoder.packing``), so padding costs
        next to nothing and the plan should give a pass as many texts as it may hold."""
        return False

    def forward(self, batch: PaddedBatch) -> ModelOutputs:
        """Run one batch; outputs float32."""
        outputs = self._run(batch)
        self._trimmer.ran(batch.attention_mask.numel())
        return outputs

    @abc.abstractmethod
    def _run(self, batch: PaddedBatch) -> ModelOutputs:
        """The engine's forward pass."""


class TorchRunner(ModelRunner):
    """Runs a torch base model (already in eval mode, on ``device``).

    ``autocast``: the dtype to run under ``torch.autocast`` (None: the model's own dtypes);
    under bf16 the pass runs in ``torch.autocast`` and outputs are cast back to float32.
    """

    def __init__(
        self, model: Any, device: torch.device, autocast: torch.dtype | None = None
    ) -> None:
        super().__init__()
        self._model = model
        self._device = device
        self._autocast = autocast
        parameters = inspect.signature(model.forward).parameters
        self._takes_token_types = "token_type_ids" in parameters

    @property
    def has_pooler(self) -> bool:
        return getattr(self._model, "pooler", None) is not None

    def _run(self, batch: PaddedBatch) -> ModelOutputs:
        """Run one batch without autograd (``torch.inference_mode``)."""
        attention_mask = batch.attention_mask.to(self._device)
        inputs = {"input_ids": batch.input_ids.to(self._device), "attention_mask": attention_mask}
        if self._takes_token_types:
            inputs["token_type_ids"] = batch.token_type_ids.to(self._device)
        with torch.inference_mode(), self._precision():
            outputs = self._model(**inputs)
        hidden: torch.Tensor = outputs.last_hidden_state.float()
        pooled: torch.Tensor | None = getattr(outputs, "pooler_output", None)
        return ModelOutputs(hidden, None if pooled is None else pooled.float(), attention_mask)

    def _precision(self) -> contextlib.AbstractContextManager[Any]:
        if self._autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self._device.type, dtype=self._autocast)
