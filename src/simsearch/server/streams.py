"""Request streams that end when their client goes silent, or when the server stops.

grpc's request iterator blocks until the client's next message comes, with no timeout, so a
client that opens an UpsertStream and sends nothing would hold its thread and concurrency slot
forever. :meth:`Streams.read` reads each message in a helper thread (one a stream, reading only
when the handler asks for the next chunk) and waits for it at most ``stream_idle_timeout_s``:
past that the stream ends with DEADLINE_EXCEEDED, freeing its slot.

:meth:`Streams.close` (on shutdown, before grpc's grace starts to run) stops every stream at its
next chunk, at once for one waiting for a chunk, with UNAVAILABLE: the chunks it took are
committed and the status says how many documents that is, instead of the grace running out and
grpc cancelling the call with no count. The engine adds the count (``errors.with_committed``).
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, InvalidStateError, wait
from contextlib import suppress
from queue import SimpleQueue
from typing import Any, Generic, TypeVar

from simsearch.errors import DeadlineExceededError, UnavailableError

__all__ = ["Streams"]

T = TypeVar("T")

SHUTTING_DOWN = (
    "server shutting down: the stream takes no more chunks; resend the documents after those "
    "committed, to this server once it is back or to another one"
)


class _End:
    """The request stream has no more messages."""


_END = _End()


class Streams:
    """Every request stream of a server: read with an idle timeout, all stopped by ``close``."""

    def __init__(self, idle_timeout_s: float) -> None:
        self.idle_timeout_s = min(idle_timeout_s, threading.TIMEOUT_MAX)  # inf: no timeout
        self._closed: Future[None] = Future()  # done: the server is stopping
        self._open = 0  # streams being read
        self._idle = threading.Condition()

    def close(self, wait_s: float = 0.0) -> int:
        """Stop every stream at its next chunk, now for those waiting for one; wait up to
        ``wait_s`` seconds for them to stop being read. Returns how many were open."""
        with suppress(InvalidStateError):  # closed already
            self._closed.set_result(None)
        with self._idle:
            stopped = self._open
            self._idle.wait_for(lambda: self._open == 0, timeout=wait_s)
        return stopped

    def read(self, requests: Iterator[T]) -> Generator[T, None, None]:
        """The messages of ``requests``; DeadlineExceededError when the next one takes longer
        than the idle timeout, UnavailableError once the server is stopping. Close it when
        done with the stream: that ends its reader thread."""
        reader = _Reader(requests)
        with self._idle:
            self._open += 1
        try:
            while not isinstance(message := self._next(reader), _End):
                yield message
        finally:
            reader.stop()
            with self._idle:
                self._open -= 1
                self._idle.notify_all()

    def _next(self, reader: _Reader[T]) -> T | _End:
        if self._closed.done():
            raise UnavailableError(SHUTTING_DOWN)
        message = reader.next()
        either: list[Future[Any]] = [message, self._closed]
        wait(either, self.idle_timeout_s, return_when=FIRST_COMPLETED)
        if self._closed.done():
            raise UnavailableError(SHUTTING_DOWN)
        if not message.done():
            raise DeadlineExceededError(
                f"the stream sent nothing for {self.idle_timeout_s:g} s "
                "(stream_idle_timeout_s), so it was ended"
            )
        return message.result()


class _Reader(Generic[T]):
    """A daemon thread that takes the next message of ``requests`` each time it is asked.

    A message is read only when asked for, so grpc's flow control still slows a client down to
    the handler's pace. The thread may stay blocked in grpc's iterator after the handler gave
    up on it; grpc ends that read when the call ends, and the thread then returns.
    """

    def __init__(self, requests: Iterator[T]) -> None:
        self._requests = requests
        self._asks: SimpleQueue[Future[T | _End] | None] = SimpleQueue()
        threading.Thread(target=self._run, name="stream-reader", daemon=True).start()

    def next(self) -> Future[T | _End]:
        """The next message, once it has come."""
        message: Future[T | _End] = Future()
        self._asks.put(message)
        return message

    def stop(self) -> None:
        """End the thread after its current read, if any."""
        self._asks.put(None)

    def _run(self) -> None:
        while (message := self._asks.get()) is not None:
            try:
                request = next(self._requests, _END)
            except Exception as exc:  # handed to the handler, which raises it
                message.set_exception(exc)
                return
            message.set_result(request)
            if isinstance(request, _End):
                return
