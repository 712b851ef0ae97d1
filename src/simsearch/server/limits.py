"""The concurrency limit: at most ``max_concurrent_rpcs`` SimSearch calls run at once.

A call over the limit is refused at once with RESOURCE_EXHAUSTED instead of queued: a queued
call would only wait behind the encoder until its deadline, while a quick refusal lets the
client back off or try another replica. Health and reflection calls are not counted, so a busy
server still answers its health checks.

Streams: an UpsertStream holds its slot for as long as its client keeps it open, an Export for as
long as its client takes messages, so streams may hold at most half the slots (``stream_slots``,
at least one); one more stream is refused with RESOURCE_EXHAUSTED, and the other half stays free
for unary calls whatever the streams do. (A silent UpsertStream is ended after
``stream_idle_timeout_s``, see ``server.streams``.)

Threads: grpc hands a call to a worker thread before its behaviour (and so this limit) runs; if
every thread were busy, a call over the limit would wait in grpc's queue instead of being
refused. So the pool has ``max_concurrent_rpcs + workers`` threads (the spare ones answer health
checks and refusals), and grpc's own ``maximum_concurrent_rpcs`` is the pool size, a backstop
so that no call ever waits for a thread: past it grpc refuses with RESOURCE_EXHAUSTED by itself
(such refusals never reach an interceptor, so the metrics do not count them).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import grpc

from simsearch.server.method_handlers import (
    Behavior,
    SimSearchInterceptor,
    replace_behavior,
)

if TYPE_CHECKING:
    from simsearch.server.method_handlers import Handler

__all__ = ["ConcurrencyLimit", "pool_size", "stream_slots"]


def pool_size(max_concurrent_rpcs: int, workers: int) -> int:
    """Threads of the RPC pool: the limit plus ``workers`` spare threads."""
    return max_concurrent_rpcs + workers


def stream_slots(max_concurrent_rpcs: int) -> int:
    """Slots request streams may hold at once: half the limit, at least one."""
    return max(1, max_concurrent_rpcs // 2)


def _take(slots: threading.BoundedSemaphore, context: grpc.ServicerContext, busy: str) -> None:
    """Take one of ``slots`` for the call (the caller releases it); none free:
    RESOURCE_EXHAUSTED with ``busy``."""
    if not slots.acquire(blocking=False):
        context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED, f"server busy: {busy}; retry with backoff"
        )


class ConcurrencyLimit(SimSearchInterceptor):
    """Holds a slot for each running SimSearch call; none free: RESOURCE_EXHAUSTED at once."""

    def __init__(self, max_concurrent_rpcs: int) -> None:
        self.limit = max_concurrent_rpcs
        self.stream_limit = stream_slots(max_concurrent_rpcs)
        self._slots = threading.BoundedSemaphore(max_concurrent_rpcs)
        self._stream_slots = threading.BoundedSemaphore(self.stream_limit)
        self._calls_busy = f"{self.limit} calls in progress (max_concurrent_rpcs)"
        self._streams_busy = (
            f"{self.stream_limit} request streams in progress, the most allowed (half of "
            "max_concurrent_rpcs: the other slots are kept for other calls)"
        )
        super().__init__()

    def _wrap(self, method: str, handler: Handler) -> Handler:
        if handler.request_streaming:
            return replace_behavior(handler, self._limited_stream)
        if handler.response_streaming:
            return replace_behavior(handler, self._limited_responses)
        return replace_behavior(handler, self._limited)

    # try/finally rather than context managers: this runs for every call, and it adds up.
    def _limited(self, behavior: Behavior) -> Behavior:
        def limited(request: Any, context: grpc.ServicerContext) -> Any:
            _take(self._slots, context, self._calls_busy)
            try:
                return behavior(request, context)
            finally:
                self._slots.release()

        return limited

    def _limited_stream(self, behavior: Behavior) -> Behavior:
        def limited(requests: Any, context: grpc.ServicerContext) -> Any:
            _take(self._stream_slots, context, self._streams_busy)
            try:
                _take(self._slots, context, self._calls_busy)
                try:
                    return behavior(requests, context)
                finally:
                    self._slots.release()
            finally:
                self._stream_slots.release()

        return limited

    def _limited_responses(self, behavior: Behavior) -> Behavior:
        """A response stream (Export, MinePairs) holds a stream slot and a call slot until its
        last message is sent; it takes them when grpc asks for its first message."""

        def limited(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            _take(self._stream_slots, context, self._streams_busy)
            try:
                _take(self._slots, context, self._calls_busy)
                try:
                    yield from behavior(request, context)
                finally:
                    self._slots.release()
            finally:
                self._stream_slots.release()

        return limited
