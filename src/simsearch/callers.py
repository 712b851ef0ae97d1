"""Whether the caller of the request being served has gone (cancelled, or past its deadline).

The server sets ``caller_gone`` around each RPC; the encoder reads it when it queues work, so
texts of a caller that has given up are dropped before they reach the model. A context
variable, because the call passes through the engine, which knows nothing of gRPC.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

__all__ = ["caller_gone"]

caller_gone: ContextVar[Callable[[], bool] | None] = ContextVar("caller_gone", default=None)
