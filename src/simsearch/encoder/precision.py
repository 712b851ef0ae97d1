"""Numeric precision and CPU threads of the model: float32, bfloat16 or dynamic int8.

bfloat16 casts only the ``Linear`` layers (nearly all of BERT's FLOPs) and runs the model
under ``torch.autocast``: matrix products run in bf16 while LayerNorm, softmax and the
residual stream stay float32. Measured on all-MiniLM-L6-v2 this is as fast as casting the
whole model and as accurate as plain autocast (which re-casts every weight on every pass);
casting the whole model also rounds the residual stream and cost 0.08 STS-B Spearman points.

``"auto"`` picks bfloat16 only where the hardware runs it natively (a CPU with AVX512-BF16,
AMX or the Arm BF16 extension; a CUDA device that supports it): emulated bf16 is slower than
float32. int8 is dynamic quantization of the ``Linear`` layers (weights int8, activations
quantized per batch): CPU only, and off by default because it moves the vectors noticeably.

bf16 on the CPU also caps oneDNN's kernel caches before the first pass (``encoder.memory``):
they keep a compiled kernel per input shape, and resident memory would grow with every new one.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from simsearch.encoder.loading import ModelLoadError
from simsearch.encoder.memory import bound_kernel_caches

__all__ = [
    "DTYPES",
    "Precision",
    "apply_precision",
    "choose_bf16",
    "native_bf16",
    "set_threads",
]

logger = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16")
# /proc/cpuinfo flags of CPUs with bf16 dot products (x86: AVX512-BF16, AMX; Arm: BF16).
_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


@dataclass(frozen=True)
class Precision:
    """How the model runs: ``name`` is float32, bfloat16 or int8; ``autocast`` the dtype to
    run the forward pass under ``torch.autocast`` with (None: no autocast)."""

    name: str
    autocast: torch.dtype | None


def native_bf16(device: torch.device, cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[bool, str]:
    """Whether ``device`` computes bf16 natively, and why (for the start-up log)."""
    if device.type == "cuda":
        supported = bool(torch.cuda.is_bf16_supported())
        return supported, f"CUDA device {'supports' if supported else 'lacks'} bf16"
    if device.type != "cpu":
        return False, f"bf16 support on {device.type} is not checked"
    if not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
        return False, "this torch build has no oneDNN (mkldnn) for bf16 kernels"
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False, f"cannot read {cpuinfo} to check the CPU's bf16 support"
    flags = {flag for line in text.splitlines() if _is_flags_line(line) for flag in _flags(line)}
    found = sorted(flags & _BF16_CPU_FLAGS)
    if found:
        return True, f"the CPU has {', '.join(found)}"
    return False, "the CPU has no native bf16 (avx512_bf16, amx_bf16 or bf16 flag)"


def _is_flags_line(line: str) -> bool:
    return line.startswith(("flags", "Features"))


def _flags(line: str) -> list[str]:
    return line.partition(":")[2].split()


def apply_precision(model: Any, device: torch.device, *, dtype: str, int8: bool) -> Precision:
    """Convert ``model`` (float32, on ``device``) in place; log what was chosen and why.

    ``dtype``: auto, float32 or bfloat16. An explicit bfloat16 where the hardware lacks it
    falls back to float32 with a warning (emulated bf16 is slower than float32).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if int8:
        return _quantize_int8(model, device, dtype)
    if not choose_bf16(device, dtype):
        return Precision("float32", None)
    if device.type == "cpu":
        bound_kernel_caches()
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
    return Precision("bfloat16", torch.bfloat16)


def choose_bf16(device: torch.device, dtype: str) -> bool:
    """Whether to compute in bfloat16 on ``device`` for ``dtype`` (auto, float32 or bfloat16);
    logs the choice and why. bfloat16 only where the hardware runs it natively."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if dtype == "float32":
        logger.info("model precision: float32 (as asked)")
        return False
    native, why = native_bf16(device)
    if not native:
        log = logger.warning if dtype == "bfloat16" else logger.info
        log("model precision: float32, not bfloat16: %s", why)
        return False
    logger.info(
        "model precision: bfloat16 (%s): %s", "as asked" if dtype != "auto" else "auto", why
    )
    return True


def _quantize_int8(model: Any, device: torch.device, dtype: str) -> Precision:
    if device.type != "cpu":
        raise ModelLoadError(f"int8 quantization runs on the CPU only, not on {device}")
    if dtype == "bfloat16":
        logger.warning("int8 asked for: ignoring dtype bfloat16 (int8 replaces it)")
    with warnings.catch_warnings():
        # torch >= 2.10 flags the eager quantization API as deprecated in favour of torchao;
        # it still works, and torchao is not a dependency.
        warnings.simplefilter("ignore")
        torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
        )
    logger.info("model precision: int8 (dynamic quantization of the Linear layers)")
    return Precision("int8", None)


def set_threads(threads: int) -> int:
    """Set torch's intra-op threads when ``threads > 0``; return the count in effect."""
    if threads < 0:
        raise ValueError(f"threads must be >= 0, got {threads}")
    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return int(torch.get_num_threads())
