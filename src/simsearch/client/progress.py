"""A one-line progress bar for a terminal, with no dependency.

    with ProgressBar(total=10_000, label="upserting") as bar:
        client.upsert("demo", documents, progress=bar.update)

It draws on ``stream`` (stderr by default) only when that stream is a terminal, at most every
``interval`` seconds, and erases itself when closed so the summary that follows stands alone.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

__all__ = ["ProgressBar"]

_BAR_WIDTH = 24


class ProgressBar:
    """Counts ``update(n)`` calls toward ``total`` and draws ``label [███░░] done/total``."""

    def __init__(
        self,
        total: int,
        *,
        label: str = "",
        unit: str = "docs",
        stream: TextIO | None = None,
        enabled: bool | None = None,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.done = 0
        self._label = label
        self._unit = unit
        self._stream = sys.stderr if stream is None else stream
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None
        self._drawn_length = 0

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def update(self, n: int) -> None:
        """Record ``n`` more items done; redraw if the interval has passed or all are done."""
        self.done += n
        now = self._clock()
        due = self._drawn_at is None or now - self._drawn_at >= self._interval
        if self._enabled and (due or self.done >= self.total):
            self._draw(self.render(now))
            self._drawn_at = now

    def render(self, now: float) -> str:
        """The bar's text at time ``now`` (``self._clock`` time)."""
        fraction = min(1.0, self.done / self.total) if self.total > 0 else 1.0
        filled = round(fraction * _BAR_WIDTH)
        bar = "█" * filled + "░" * (_BAR_WIDTH - filled)
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        text = f"[{bar}] {self.done:,}/{self.total:,} {fraction:4.0%}  {rate:,.0f} {self._unit}/s"
        if rate > 0 and self.done < self.total:
            text += f"  eta {(self.total - self.done) / rate:.0f} s"
        return f"{self._label} {text}" if self._label else text

    def close(self) -> None:
        """Erase the bar (if one was drawn)."""
        if self._drawn_length:
            self._draw("")
            self._drawn_length = 0

    def _draw(self, text: str) -> None:
        padding = " " * max(0, self._drawn_length - len(text))
        self._stream.write(f"\r{text}{padding}" + ("\r" if not text else ""))
        self._stream.flush()
        self._drawn_length = len(text)
