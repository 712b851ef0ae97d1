"""Gathering concurrent searches of one collection into one FAISS call.

Exact search scans every vector for each call: 100k x 384 floats is 150 MB of memory to read
per call, whether it serves one query or eight, and from ``vectors.BLAS_THRESHOLD`` queries
FAISS turns the scan into one matrix product, 2-3x the queries/s of searching them one by one
(the table in ``vectors``). So searches that arrive while one runs are answered together.

Leader and followers, no thread of its own: a search that finds nobody running runs at once,
alone (no added wait when the collection is idle); searches that arrive meanwhile queue; when
the running batch ends, its leader wakes the first queued search, which runs everything queued
(up to ``MAX_GATHERED`` queries) as the next batch, while the searches of the finished batch
return. Under load, each batch is what arrived during the previous one.

Before taking its batch, a leader yields the GIL once (``time.sleep(0)``, no timer): searches
released together (the encoder answers a batch of texts at once; a batch's searchers come back
together) are then running on the other core and only need the GIL to join the queue. Without
it, 8 closed-loop searchers in one process made batches of 1 and 8 in turn (120 and 118 in
5 s: the first to come back ran alone); with it, 127 of 153 batches held all 8.

``run`` answers a batch of requests with one answer or one exception per request, so one bad
request fails alone; if ``run`` itself raises, every request of its batch gets the error.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["MAX_GATHERED", "Gatherer"]

MAX_GATHERED = 256  # queries per batch: past BLAS's gain, and one batch must not run for long

_Request = TypeVar("_Request")
_Answer = TypeVar("_Answer")


@dataclass(eq=False)
class _Waiting(Generic[_Request, _Answer]):
    request: _Request
    size: int
    woken: threading.Event = field(default_factory=threading.Event)
    answered: bool = False
    answer: _Answer | None = None
    error: BaseException | None = None

    def settle(self, outcome: _Answer | BaseException) -> None:
        if isinstance(outcome, BaseException):
            self.error = outcome
        else:
            self.answer = outcome
        self.answered = True


class Gatherer(Generic[_Request, _Answer]):
    """Runs requests in batches: ``run(requests)`` returns one answer or exception each, in
    order; ``size(request)`` is its number of queries. Thread-safe."""

    def __init__(
        self,
        run: Callable[[Sequence[_Request]], Sequence[_Answer | Exception]],
        size: Callable[[_Request], int],
        *,
        max_gathered: int = MAX_GATHERED,
    ) -> None:
        self._run = run
        self._size = size
        self._max_gathered = max_gathered
        self._lock = threading.Lock()
        self._queue: list[_Waiting[_Request, _Answer]] = []
        self._running = False

    def submit(self, request: _Request) -> _Answer:
        """The answer to ``request``, run in a batch with whatever else is queued."""
        mine: _Waiting[_Request, _Answer] = _Waiting(request, self._size(request))
        with self._lock:
            self._queue.append(mine)
            leads = not self._running
            self._running = True
        if not leads:
            try:
                mine.woken.wait()  # answered, or handed the lead
            except BaseException:  # e.g. KeyboardInterrupt: the queue must not wait for us
                self._abandon(mine)
                raise
        if not mine.answered:
            self._lead()
        if mine.error is not None:
            raise mine.error
        return mine.answer  # type: ignore[return-value]  # answered without an error

    def _lead(self) -> None:
        """Run the next batch (it starts with the caller's own request), then hand over."""
        time.sleep(0)  # let searches that are arriving right now join this batch
        with self._lock:
            batch = self._next_batch()
        try:
            outcomes: Sequence[_Answer | BaseException] = self._run([w.request for w in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} answers for {len(batch)} requests")
        except BaseException as exc:
            outcomes = [exc, *(copy.copy(exc) for _ in batch[1:])]  # one instance per thread
            raise
        finally:
            self._hand_over()
            for waiting, outcome in zip(batch, outcomes, strict=True):
                waiting.settle(outcome)
                waiting.woken.set()

    def _next_batch(self) -> list[_Waiting[_Request, _Answer]]:
        """The queued requests from the front, up to ``max_gathered`` queries (at least one);
        called with the lock held."""
        taken, queries = 0, 0
        for waiting in self._queue:
            if taken and queries + waiting.size > self._max_gathered:
                break
            taken, queries = taken + 1, queries + waiting.size
        batch, self._queue = self._queue[:taken], self._queue[taken:]
        return batch

    def _hand_over(self) -> None:
        """Wake the first queued request to lead the next batch, or mark nothing running."""
        with self._lock:
            self._wake_next()

    def _wake_next(self) -> None:
        if self._queue:
            self._queue[0].woken.set()
        else:
            self._running = False

    def _abandon(self, mine: _Waiting[_Request, _Answer]) -> None:
        """Leave the queue; pass the lead on if it was just handed to ``mine``."""
        with self._lock:
            if mine in self._queue:
                self._queue.remove(mine)
                if mine.woken.is_set():  # queued ones are woken only to lead
                    self._wake_next()
