"""Which inference engine runs the model, and setting it up: torch or OpenVINO.

``"auto"`` picks OpenVINO when the device is a CPU and the ``openvino`` package imports (it is
in the ``server`` extra), else torch; the choice and its reason are logged. OpenVINO runs the
same checkpoint, converted locally on first load and cached (``encoder.openvino_convert``):
measured on all-MiniLM-L6-v2 on 2 Zen 5 cores it is ~1.5x faster than torch at the same
precision. Dynamic int8 (``int8``) is torch's, so auto keeps torch for it; static int8
(``int8_calibration``) is OpenVINO's.

Precision follows the hardware either way (``precision.choose_bf16``): bfloat16 where the CPU
computes it natively unless float32 is asked for. Fingerprints: torch float32 / bfloat16 and
OpenVINO float32 / bfloat16 (packed for BERT: several texts per row,
``encoder.packing``) all share the weights' fingerprint (their vectors agree with torch
float32 within the tolerances in ``docs/engines.md``); torch dynamic int8 and OpenVINO static
int8 each get their own (``fingerprint.variant_fingerprint``), the latter per calibration set.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from simsearch.encoder.fingerprint import variant_fingerprint
from simsearch.encoder.loading import ModelLoadError
from simsearch.encoder.precision import apply_precision, choose_bf16, set_threads
from simsearch.encoder.runner import ModelRunner, TorchRunner

if TYPE_CHECKING:
    from simsearch.encoder.openvino_convert import OpenVinoVariant

__all__ = ["ENGINES", "EngineOptions", "EngineSetup", "choose_engine", "start_engine"]

logger = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "openvino")


@dataclass(frozen=True)
class EngineSetup:
    """A ready engine: its name (torch or openvino), runner, precision name (float32,
    bfloat16, int8 or int8-static), the fingerprint its vectors carry, and its threads."""

    engine: str
    runner: ModelRunner
    precision: str
    fingerprint: str
    threads: int


@dataclass(frozen=True)
class EngineOptions:
    """What the caller asked for (see ``load_encoder``)."""

    engine: str = "torch"
    dtype: str = "float32"
    int8: bool = False
    threads: int = 0
    cache_dir: Path | None = None
    int8_calibration: Path | None = None


def choose_engine(
    engine: str, device: torch.device, *, int8: bool = False, calibrated: bool = False
) -> str:
    """torch or openvino for ``engine`` (auto, torch or openvino) on ``device``; logs the
    choice. ``ModelLoadError`` for a combination that cannot run."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "auto":
        engine, why = _auto(device, int8=int8)
    else:
        why = "as asked"
    _check(engine, device, int8=int8, calibrated=calibrated)
    logger.info("inference engine: %s (%s)", engine, why)
    return engine


def _auto(device: torch.device, *, int8: bool) -> tuple[str, str]:
    if device.type != "cpu":
        return "torch", f"auto: the device is {device}; OpenVINO runs on the CPU here"
    if int8:
        return "torch", "auto: int8 is torch's dynamic quantization"
    version = _openvino_version()
    if version is None:
        return "torch", "auto: the openvino package is not installed"
    return "openvino", f"auto: the device is a CPU and openvino {version} is installed"


def _check(engine: str, device: torch.device, *, int8: bool, calibrated: bool) -> None:
    if engine == "torch":
        if calibrated:
            raise ModelLoadError(
                "int8_calibration (static int8) runs on the openvino engine, not torch"
            )
        return
    if device.type != "cpu":
        raise ModelLoadError(
            f"the openvino engine runs on the CPU, not on {device}: use --engine torch "
            "(or auto) with this device"
        )
    if int8:
        raise ModelLoadError(
            "int8 is torch's dynamic quantization: use --engine torch with it, or "
            "int8_calibration for the openvino engine's static int8"
        )
    if _openvino_version() is None:
        raise ModelLoadError(
            "the openvino engine needs the openvino package: pip install 'simsearch[server]'"
        )


def _openvino_version() -> str | None:
    try:
        import openvino
    except (ImportError, OSError):
        return None
    return str(openvino.__version__).split("-")[0]


def start_engine(
    model: Any,
    tokenizer: Any,
    device: torch.device,
    *,
    fingerprint: str,
    max_length: int,
    options: EngineOptions,
) -> EngineSetup:
    """Choose the engine and set ``model`` (float32, eval mode, on the CPU) up on it."""
    engine = choose_engine(
        options.engine,
        device,
        int8=options.int8,
        calibrated=options.int8_calibration is not None,
    )
    if engine == "torch":
        return _start_torch(model, device, fingerprint=fingerprint, options=options)
    return _start_openvino(
        model, tokenizer, device, fingerprint=fingerprint, max_length=max_length, options=options
    )


def _start_torch(
    model: Any, device: torch.device, *, fingerprint: str, options: EngineOptions
) -> EngineSetup:
    model.to(device)
    precision = apply_precision(model, device, dtype=options.dtype, int8=options.int8)
    if precision.name == "int8":
        fingerprint = variant_fingerprint(fingerprint, "int8-dynamic")
    runner = TorchRunner(model, device, precision.autocast)
    return EngineSetup("torch", runner, precision.name, fingerprint, set_threads(options.threads))


def _start_openvino(
    model: Any,
    tokenizer: Any,
    device: torch.device,
    *,
    fingerprint: str,
    max_length: int,
    options: EngineOptions,
) -> EngineSetup:
    # Imported here: openvino is needed only when it runs the model.
    from simsearch.encoder.model_cache import ModelCache
    from simsearch.encoder.openvino_convert import OpenVinoVariant, openvino_model
    from simsearch.encoder.openvino_runner import OpenVinoRunner, compile_for_cpu
    from simsearch.encoder.packed_bert import packable
    from simsearch.encoder.packing import PACKED_INPUTS

    bf16 = choose_bf16(device, options.dtype)
    names = model_input_names(model)
    if options.int8_calibration is not None:
        variant, texts_hash = _static_int8(tokenizer, names, options.int8_calibration, max_length)
        fingerprint = variant_fingerprint(fingerprint, "int8-static", texts_hash)
    elif packable(model):  # same math as the padded model: same fingerprint
        variant, names = OpenVinoVariant("fp32-packed"), list(PACKED_INPUTS)
    else:
        variant = OpenVinoVariant("fp32")
    cache = None if options.cache_dir is None else ModelCache(options.cache_dir / "openvino")
    converted = openvino_model(model, names, fingerprint=fingerprint, variant=variant, cache=cache)
    runner = OpenVinoRunner(compile_for_cpu(converted, bf16=bf16, threads=options.threads))
    set_threads(options.threads)  # torch still pools the outputs
    precision = "int8-static" if variant.samples is not None else runner.precision
    return EngineSetup("openvino", runner, precision, fingerprint, runner.threads)


def _static_int8(
    tokenizer: Any, input_names: list[str], path: Path, max_length: int
) -> tuple[OpenVinoVariant, str]:
    """The int8 variant calibrated on the texts of ``path``, and the hash of those texts."""
    from simsearch.encoder.calibration import calibration_hash, read_calibration_texts
    from simsearch.encoder.openvino_convert import OpenVinoVariant

    texts = read_calibration_texts(path)
    samples = []
    for text in texts:
        encoded = tokenizer(text, truncation=True, max_length=max_length, return_tensors="np")
        samples.append({name: encoded[name].astype("int64") for name in input_names})
    logger.info("static int8: %d calibration texts from %s", len(texts), path)
    texts_hash = calibration_hash(texts)
    return OpenVinoVariant(f"int8-static-{texts_hash[:16]}", samples), texts_hash


def model_input_names(model: Any) -> list[str]:
    """The inputs the engine feeds ``model``: ids and mask, and token types if it takes them."""
    parameters = inspect.signature(model.forward).parameters
    names = ["input_ids", "attention_mask"]
    return [*names, "token_type_ids"] if "token_type_ids" in parameters else names
