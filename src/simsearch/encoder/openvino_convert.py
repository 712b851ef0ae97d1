"""The torch checkpoint as an OpenVINO model: converted locally, optionally quantized, cached.

``openvino_model`` converts the loaded float32 torch model with ``openvino.convert_model``
(tracing it on a small padded pair batch, so the attention mask and token types are live
inputs; batch and length stay dynamic). Nothing is downloaded. With calibration samples it
then quantizes the model to static int8 with NNCF (the ``int8`` extra). A packed variant
traces ``packed_bert.PackedBert`` instead, on a small packed batch (two texts in a row, one a
pair, and padding): its inputs are ``packing.PACKED_INPUTS``.

Conversion takes seconds (all-MiniLM-L6-v2: ~2.5 s on a quiet 2-core machine; static int8
adds the calibration passes), so with a cache directory the result is kept in a
:class:`~simsearch.encoder.model_cache.ModelCache` entry keyed by the model fingerprint, the
variant (``fp32``, ``fp32-packed`` or ``int8-static-<calibration hash>``) and a hash of
everything else the converted graph depends on: the openvino, torch and transformers versions
(and nncf's for int8), the model's config and its inputs. Weights are saved as float32
(``compress_to_fp16=False``; openvino's default would halve them to fp16), so the cached model
computes what a fresh conversion does.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import re
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import openvino as ov
import torch

from simsearch.encoder.loading import ModelLoadError
from simsearch.encoder.model_cache import ModelCache
from simsearch.encoder.packed_bert import PackedBert
from simsearch.encoder.packing import PACKED_INPUTS, PACKED_OUTPUTS

__all__ = ["OpenVinoVariant", "convert_to_openvino", "openvino_model", "quantize_static"]

logger = logging.getLogger(__name__)

_XML, _BIN = "model.xml", "model.bin"


@dataclass(frozen=True)
class OpenVinoVariant:
    """What to build: ``name`` fp32, fp32-packed (the inputs are then the packed model's) or
    int8-static-<hash>; ``samples`` the calibration inputs for int8 (None otherwise)."""

    name: str
    samples: Sequence[dict[str, np.ndarray]] | None = None


def openvino_model(
    model: Any,
    input_names: Sequence[str],
    *,
    fingerprint: str,
    variant: OpenVinoVariant,
    cache: ModelCache | None,
) -> ov.Model:
    """The OpenVINO model for ``model`` (float32 torch, eval mode): from ``cache`` when it
    holds a sound entry, else converted (and quantized) now and stored there."""
    key = _cache_key(model, input_names, fingerprint, variant)
    if cache is not None:
        cached = _read_cached(cache, key)
        if cached is not None:
            return cached
    started = time.perf_counter()
    converted = convert_to_openvino(model, input_names)
    if variant.samples is not None:
        converted = quantize_static(converted, variant.samples)
    logger.info(
        "model converted to OpenVINO in %.1f s (%s weights; the precision is set at compile time)",
        time.perf_counter() - started,
        variant.name,
    )
    if cache is not None:
        stored = cache.store(
            key,
            lambda directory: ov.save_model(converted, directory / _XML, compress_to_fp16=False),
        )
        if stored is not None:
            logger.info("OpenVINO model cached in %s", stored)
    return converted


def _read_cached(cache: ModelCache, key: str) -> ov.Model | None:
    files = cache.load(key)
    if files is None:
        return None
    try:
        weights = ov.Tensor(np.frombuffer(files[_BIN], dtype=np.uint8))
        model: ov.Model = ov.Core().read_model(files[_XML], weights)
    except (KeyError, RuntimeError) as exc:  # sound files openvino cannot read: convert again
        logger.warning("cannot read the cached OpenVINO model %s (%s)", cache.root / key, exc)
        return None
    logger.info("OpenVINO model loaded from the cache: %s", cache.root / key)
    return model


def convert_to_openvino(model: Any, input_names: Sequence[str]) -> ov.Model:
    """Trace ``model`` into an OpenVINO model with dynamic batch and length: the packed model
    when ``input_names`` are ``packing.PACKED_INPUTS``, else the padded one."""
    from transformers.utils import logging as transformers_logging

    verbosity = transformers_logging.get_verbosity()
    # Tracing touches every attribute, and transformers then logs a confusing line about a
    # training loss ("loss_type=None ... Using the default loss") that means nothing here.
    transformers_logging.set_verbosity(logging.ERROR)
    with warnings.catch_warnings():
        # Tracing warns about Python branches on tensor values; BERT's depend only on shapes.
        warnings.simplefilter("ignore")
        try:
            if tuple(input_names) == PACKED_INPUTS:
                return _convert_packed(model)
            return ov.convert_model(model, example_input=_example_inputs(input_names))
        except Exception as exc:  # the converter raises many kinds; all mean "cannot convert"
            raise ModelLoadError(
                f"OpenVINO could not convert the model ({type(exc).__name__}: {exc}); "
                "use --engine torch"
            ) from exc
        finally:
            transformers_logging.set_verbosity(verbosity)


def _example_inputs(input_names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Two rows, the second padded, the first with a segment B: every input path is traced."""
    rows = {
        "input_ids": [[1, 2, 3, 4, 3], [1, 2, 3, 0, 0]],
        "attention_mask": [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]],
        "token_type_ids": [[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]],
    }
    return {name: torch.tensor(rows[name], dtype=torch.int64) for name in input_names}


def _convert_packed(model: Any) -> ov.Model:
    wrapper = PackedBert(model)
    converted = ov.convert_model(wrapper, example_input=_packed_example_inputs())
    names = PACKED_OUTPUTS[: len(converted.outputs)]  # no pooler: hidden states only
    for output, name in zip(converted.outputs, names, strict=True):
        output.get_tensor().set_names({name})
    return converted


def _packed_example_inputs() -> dict[str, torch.Tensor]:
    """Two rows: a text and a pair packed in the first, a text and padding in the second."""
    rows = {
        "input_ids": [[1, 2, 3, 1, 2, 4, 3], [1, 2, 3, 0, 0, 0, 0]],
        "token_type_ids": [[0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0]],
        "position_ids": [[0, 1, 2, 0, 1, 2, 3], [0, 1, 2, 0, 0, 0, 0]],
        "segment_ids": [[1, 1, 1, 2, 2, 2, 2], [1, 1, 1, 0, 0, 0, 0]],
    }
    inputs = {name: torch.tensor(rows[name], dtype=torch.int64) for name in rows}
    inputs["cls_index"] = torch.tensor([0, 3, 7], dtype=torch.int64)
    return inputs


def quantize_static(converted: ov.Model, samples: Sequence[dict[str, np.ndarray]]) -> ov.Model:
    """Static int8 of ``converted`` with NNCF, calibrated on ``samples`` (one input each)."""
    try:
        import nncf
        from nncf.quantization.advanced_parameters import (
            AdvancedQuantizationParameters,
            OverflowFix,
        )
    except ImportError as exc:
        raise ModelLoadError(
            "static int8 (int8_calibration) needs NNCF: pip install 'simsearch[int8]'"
        ) from exc
    logger.info("calibrating static int8 on %d texts (NNCF)", len(samples))
    try:
        quantized: ov.Model = nncf.quantize(
            converted,
            nncf.Dataset(list(samples)),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(samples),
            # 7-bit weights in every layer: CPUs without VNNI (AVX2 only) multiply u8 x s8 with
            # instructions whose int16 sums saturate, which took the tiny model's vectors to
            # a mean cosine of 0.91 against float32 (0.99+ with the fix).
            advanced_parameters=AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE),
        )
    except Exception as exc:  # NNCF raises many kinds; all mean "cannot quantize"
        raise ModelLoadError(
            f"NNCF could not quantize the model to static int8 ({type(exc).__name__}: {exc})"
        ) from exc
    return quantized


def _cache_key(
    model: Any, input_names: Sequence[str], fingerprint: str, variant: OpenVinoVariant
) -> str:
    packages = ["openvino", "torch", "transformers"]
    if variant.samples is not None:
        packages.append("nncf")
    build: dict[str, Any] = {
        "versions": {name: _version(name) for name in packages},
        "config": json.loads(model.config.to_json_string(use_diff=False)),
        "inputs": list(input_names),
        "pooler": getattr(model, "pooler", None) is not None,
    }
    if variant.samples is not None:  # the calibration inputs as tokenized (and truncated)
        build["samples"] = _samples_digest(variant.samples)
        build["overflow_fix"] = "enable"  # models quantized before it are not reused
    digest = hashlib.sha256(json.dumps(build, sort_keys=True).encode()).hexdigest()[:12]
    release = re.sub(r"[^A-Za-z0-9.]", "_", ov.__version__.split("-")[0])
    return f"{fingerprint}-{variant.name}-ov{release}-{digest}"


def _samples_digest(samples: Sequence[dict[str, np.ndarray]]) -> str:
    digest = hashlib.sha256()
    for sample in samples:
        for name in sorted(sample):
            array = np.ascontiguousarray(sample[name], dtype=np.int64)
            digest.update(f"{name}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
