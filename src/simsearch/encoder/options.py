"""How to load an encoder, as one picklable value: ``load_encoder(**options.as_kwargs())``.

The server builds it from its settings; the Ray Serve deployment (``encoder.ray_serve``) ships
it to every replica, which loads the same encoder there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["EncoderOptions"]


@dataclass(frozen=True)
class EncoderOptions:
    """The arguments of ``load_encoder`` but the in-process callback ``on_batch``."""

    model: str
    device: str = "cpu"
    max_length: int = 0
    batch_size: int = 64
    dtype: str = "float32"
    int8: bool = False
    threads: int = 0
    batch_tokens: int = 8192
    batch_wait_ms: float = 2.0
    max_queue_depth: int = 4096
    allow_download: bool = False
    engine: str = "torch"
    cache_dir: Path | None = None
    int8_calibration: Path | None = None

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)
