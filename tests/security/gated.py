"""An encoder that holds its calls until the test lets them through."""

from __future__ import annotations

import threading
from typing import Any


class GatedEncoder:
    """The wrapped encoder, with ``encode`` waiting for ``gate`` first: an Encode call (or an
    upsert) then holds its slot, and stays in flight, until the test opens the gate."""

    def __init__(self, inner: Any, gate: threading.Event) -> None:
        self._inner = inner
        self._gate = gate

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        self._gate.wait(60)
        return self._inner.encode(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
