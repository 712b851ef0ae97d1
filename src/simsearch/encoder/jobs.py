"""One caller's request to the model, and the buffer its rows come back into.

A :class:`Job` is what a caller submits: its tokenized inputs and what it wants of them. The
scheduler wraps it in a :class:`PendingJob`, hands out its rows shortest first (so a large job
splits into well-packed slices) and fills its result row by row as batches finish; the
caller's future resolves when the last row is in, or with the first error.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from simsearch.callers import CallerGone
from simsearch.encoder.tokenization import Tokenized
from simsearch.types import FloatArray, Pooling

__all__ = ["Job", "JobResult", "PendingJob", "ScheduledInput"]


@dataclass(frozen=True)
class Job:
    """What one caller asks of the model.

    pooling: the sentence embedding to compute (None: none); normalize: scale it to unit L2.
    tokens: also return each input's ``last_hidden_state`` rows, padding removed.
    """

    items: Sequence[Tokenized]
    pooling: Pooling | None
    normalize: bool
    tokens: bool


@dataclass(frozen=True)
class JobResult:
    """embeddings: ``(n, d) float32``, row i for ``items[i]`` (zeros when no pooling).
    hidden: when ``tokens``, ``(n_tokens_i, d) float32`` for each input i; else empty."""

    embeddings: FloatArray
    hidden: list[FloatArray]


@dataclass(frozen=True)
class ScheduledInput:
    """Input ``index`` of a pending job, as scheduled into a batch."""

    pending: PendingJob
    index: int

    @property
    def item(self) -> Tokenized:
        return self.pending.job.items[self.index]


@dataclass(eq=False)
class PendingJob:
    """A submitted job. Mutated only by the scheduler's worker thread (the future is the
    hand-over to the caller), except ``cursor``, which is guarded by the scheduler's lock."""

    job: Job
    hidden_size: int
    gone: CallerGone | None = None
    enqueued_at: float = field(default_factory=time.monotonic)
    future: Future[JobResult] = field(default_factory=Future)

    def __post_init__(self) -> None:
        items = self.job.items
        self._order = sorted(range(len(items)), key=lambda i: len(items[i]))
        self.cursor = 0  # rows before it in ``_order`` have been handed to the worker
        self._remaining = len(items)
        self._embeddings = np.zeros((len(items), self.hidden_size), dtype=np.float32)
        self._hidden: list[FloatArray | None] = [None] * len(items) if self.job.tokens else []

    @property
    def done(self) -> bool:
        """Finished: every row delivered, or failed."""
        return self.future.done()

    @property
    def queued(self) -> int:
        """Rows not yet handed to the worker."""
        return len(self._order) - self.cursor

    def take(self, limit: int) -> list[ScheduledInput]:
        """The next (up to) ``limit`` rows, shortest first."""
        indices = self._order[self.cursor : self.cursor + limit]
        self.cursor += len(indices)
        return [ScheduledInput(self, index) for index in indices]

    def deliver(self, index: int, vector: FloatArray | None, hidden: FloatArray | None) -> None:
        """Input ``index``'s sentence embedding and its padded ``(L, d)`` hidden-state row."""
        if self.done:
            return
        if vector is not None:
            self._embeddings[index] = vector
        if hidden is not None and self.job.tokens:
            self._hidden[index] = hidden[: len(self.job.items[index])].copy()
        self._remaining -= 1
        if self._remaining == 0:
            hidden_rows = [row for row in self._hidden if row is not None]
            self.future.set_result(JobResult(self._embeddings, hidden_rows))

    def fail(self, error: BaseException) -> None:
        """Fail the whole job (its rows still queued or in later batches are skipped)."""
        if not self.done:
            self.future.set_exception(error)
