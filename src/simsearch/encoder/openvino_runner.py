"""The OpenVINO engine's forward pass: a model compiled for the CPU, one infer request.

Compiled with ``PERFORMANCE_HINT=LATENCY`` (one stream using every inference thread): the
scheduler runs one pass at a time, and measured on all-MiniLM-L6-v2 (2 cores, sorted batches
of 32 STS-B sentences) LATENCY ran ~1.25x faster than THROUGHPUT, whose streams split the
cores between requests that never come. ``INFERENCE_PRECISION_HINT`` is set explicitly (bf16
or f32) so the precision is ours, not the plugin's per-CPU default, and the precision
reported is the one the compiled model says it uses. Outputs are copied out of the request's
buffers (``share_outputs=False``), so a later pass never overwrites rows already delivered.

A packed model (its inputs are ``packing.PACKED_INPUTS``) gets each batch packed into dense
rows (``packing.pack``) and its hidden states unpacked back to the padded layout; the pooler
output is already one row per text.
"""

from __future__ import annotations

from typing import Any

import openvino as ov
import torch

from simsearch.encoder.batching import PaddedBatch
from simsearch.encoder.loading import ModelLoadError
from simsearch.encoder.packing import PACKED_INPUTS, PACKED_OUTPUTS, pack, unpack
from simsearch.encoder.runner import ModelOutputs, ModelRunner

__all__ = ["OpenVinoRunner", "compile_for_cpu"]

_LAST_HIDDEN_STATE, _POOLER_OUTPUT = PACKED_OUTPUTS  # transformers' names, the padded model's too

# The CPU plugin keeps prepared kernels per input shape, 5,000 shapes by default: under
# traffic of ever-new (rows, length) shapes resident memory grew ~11% in 30 s of the load
# test. 16, like the torch path's oneDNN cap (``encoder.memory``), keeps it flat; measured
# on sorted STS-B batches, where nearly every shape is new anyway, it costs no throughput.
_SHAPE_CACHE_CAPACITY = 16


def compile_for_cpu(model: ov.Model, *, bf16: bool, threads: int) -> ov.CompiledModel:
    """``model`` compiled for the CPU; ``threads`` 0 leaves the thread count to OpenVINO."""
    config: dict[str, Any] = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
        "CPU_RUNTIME_CACHE_CAPACITY": _SHAPE_CACHE_CAPACITY,
    }
    if threads > 0:
        config["INFERENCE_NUM_THREADS"] = threads
    try:
        return ov.Core().compile_model(model, "CPU", config)
    except RuntimeError as exc:
        raise ModelLoadError(
            f"OpenVINO could not compile the model for the CPU ({exc}); use --engine torch"
        ) from exc


class OpenVinoRunner(ModelRunner):
    """Runs a compiled OpenVINO BERT: inputs by name, outputs float32 torch tensors."""

    def __init__(self, compiled: ov.CompiledModel) -> None:
        super().__init__()
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        self._input_names = [port.get_any_name() for port in compiled.inputs]
        # A traced input may carry several names (the packed model's segment_ids does).
        names = {name for port in compiled.inputs for name in port.get_names()}
        self._packs = "segment_ids" in names
        if self._packs and not set(PACKED_INPUTS) <= names:
            raise ModelLoadError(f"a packed model takes {PACKED_INPUTS}, not {sorted(names)}")
        outputs = {name: port for port in compiled.outputs for name in port.get_names()}
        self._hidden = outputs[_LAST_HIDDEN_STATE]
        self._pooler = outputs.get(_POOLER_OUTPUT)

    @property
    def has_pooler(self) -> bool:
        return self._pooler is not None

    @property
    def packs(self) -> bool:
        return self._packs

    @property
    def precision(self) -> str:
        """The compiled model's inference precision: bfloat16 or float32."""
        hint = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        return "bfloat16" if hint == ov.Type.bf16 else "float32"

    @property
    def threads(self) -> int:
        """Inference threads in effect."""
        return int(self._compiled.get_property("INFERENCE_NUM_THREADS"))

    def _run(self, batch: PaddedBatch) -> ModelOutputs:
        if self._packs:
            return self._run_packed(batch)
        tensors = {
            "input_ids": batch.input_ids,
            "attention_mask": batch.attention_mask,
            "token_type_ids": batch.token_type_ids,
        }
        inputs = {name: tensors[name].numpy() for name in self._input_names}
        results = self._request.infer(inputs, share_inputs=True, share_outputs=False)
        hidden = torch.from_numpy(results[self._hidden])
        pooled = None if self._pooler is None else torch.from_numpy(results[self._pooler])
        return ModelOutputs(hidden, pooled, batch.attention_mask)

    def _run_packed(self, batch: PaddedBatch) -> ModelOutputs:
        packed = pack(batch)
        results = self._request.infer(packed.inputs, share_inputs=True, share_outputs=False)
        hidden = unpack(torch.from_numpy(results[self._hidden]), packed)
        pooled = None if self._pooler is None else torch.from_numpy(results[self._pooler])
        return ModelOutputs(hidden, pooled, batch.attention_mask)
