"""Keep the encoder's resident memory flat under traffic whose input shapes keep changing.

Every batch is a (rows x padded length) shape, and two things grow with the variety of shapes
seen rather than with the work in flight. Both are bounded here:

* bf16 on the CPU: oneDNN compiles a kernel per shape and keeps it, with its buffers, in two
  caches of 1,024 entries each (oneDNN's primitive cache and PyTorch's ideep cache).
  :func:`bound_kernel_caches` caps both at ``KERNEL_CACHE_SHAPES`` through the environment
  variables they read at their first use, so it must run before the process's first bf16 matrix
  product: the encoder calls it when it loads a model in bf16 on the CPU, before any pass.
  Compiling a kernel for a new shape costs milliseconds, a small part of the pass it serves,
  and with shapes this varied the large caches rarely hit anyway.
* any dtype: each time a large block is freed, glibc's malloc raises its mmap threshold (up to
  32 MiB), after which activations of every size come from the heap; the heap fragments between
  passes of different shapes and is seldom given back. :class:`HeapTrimmer` calls
  ``malloc_trim(0)`` once per ``TRIM_EVERY_TOKENS`` padded tokens of model work, which returns
  the free pages to the system (a 2-4 ms call, against about a second of model work between
  two calls for all-MiniLM-L6-v2). Elsewhere than glibc it does nothing.

Measured with all-MiniLM-L6-v2 (docs/reliability.md, "Load"): bf16 grew from 536 to 1,537 MiB
over 400 calls of varied shapes and was still rising; float32 from 517 to 786 MiB over 200.
Bounded, both stay within a few MiB of where they are after the first 25 calls.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable

__all__ = ["KERNEL_CACHE_SHAPES", "TRIM_EVERY_TOKENS", "HeapTrimmer", "bound_kernel_caches"]

logger = logging.getLogger(__name__)

# Shapes each oneDNN kernel cache keeps: a pass needs about three kernels (one per Linear
# layer shape), so this keeps the last few batch shapes. oneDNN's default is 1024.
KERNEL_CACHE_SHAPES = 16
# oneDNN's primitive cache, PyTorch's ideep cache (both 1024 by default).
_KERNEL_CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")
# Padded tokens of model work between two heap trims: one full batch at the default budget.
TRIM_EVERY_TOKENS = 8192


def bound_kernel_caches(shapes: int = KERNEL_CACHE_SHAPES) -> None:
    """Cap oneDNN's kernel caches at ``shapes`` each, so memory stops growing with new shapes.

    Takes effect only if no oneDNN kernel has run in this process yet (oneDNN and ideep read
    the variables once, at first use). A value already in the environment is kept: an operator
    who sets ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` or ``LRU_CACHE_CAPACITY`` knows their traffic.
    """
    for name in _KERNEL_CACHE_VARIABLES:
        kept = os.environ.setdefault(name, str(shapes))
        logger.debug("oneDNN kernel cache %s=%s", name, kept)


class HeapTrimmer:
    """Gives free heap pages back to the system once per ``every_tokens`` of model work.

    Not thread-safe: one per model runner, called from its one worker thread.
    """

    def __init__(self, every_tokens: int = TRIM_EVERY_TOKENS) -> None:
        if every_tokens <= 0:
            raise ValueError(f"every_tokens must be positive, got {every_tokens}")
        self._every = every_tokens
        self._since = 0
        self._trim = _malloc_trim()

    def ran(self, tokens: int) -> None:
        """Count a pass of ``tokens`` padded tokens; trim when enough work has run since."""
        self._since += tokens
        if self._since >= self._every and self._trim is not None:
            self._since = 0
            self._trim(0)


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim
