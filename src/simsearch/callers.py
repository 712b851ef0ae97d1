"""Whether the caller of the request being served has gone (cancelled, or past its deadline).

The server sets ``caller_gone`` around each RPC; the encoder reads it when it queues work, so
texts of a caller that has given up are dropped before they reach the model. A context
variable, because the call passes through the engine, which knows nothing of gRPC.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

__all__ = ["CallerGone", "caller_gone"]

# Polled while work waits: True once the caller has gone.
CallerGone = Callable[[], bool]

caller_gone: ContextVar[CallerGone | None] = ContextVar("caller_gone", default=None)
