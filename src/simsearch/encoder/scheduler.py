"""Cross-request batching: one worker thread runs every forward pass, for all callers.

Callers tokenize in their own thread (so a bad input fails its own request before any
queueing) and :meth:`BatchScheduler.run` a :class:`~simsearch.encoder.jobs.Job`. The worker
loops:

1. Wait for work. When fewer than ``batch_size`` texts are queued, wait until the oldest has
   waited ``batch_wait_ms`` (or more arrive), so concurrent small requests share a pass; work
   that waited through the previous pass never waits again.
2. Take a window of up to ``_WINDOW_BATCHES`` batches' worth of texts, round-robin over the
   queued jobs, at most ``batch_size`` from each per turn: a large job is split into slices,
   and small jobs queued behind it wait for one window, not for the whole large job.
3. Sort the window by length, cut it into batches bounded by ``batch_size`` rows and
   ``batch_tokens`` padded tokens, run each, and hand every row to its own job.

A batch whose pass fails is retried one job at a time, so only the job that fails alone
fails. Queued texts over ``max_queue_depth`` refuse new work at once (LimitExceededError).
After every forward pass that returns, ``on_batch(rows, tokens)`` (when given) is told the
pass's texts and their real tokens, padding excluded (the server's metrics); a pass that
raises is not reported.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from simsearch.encoder.batching import collate, plan_batches
from simsearch.encoder.jobs import Job, JobResult, PendingJob, Row
from simsearch.encoder.pooling import l2_normalize, pool
from simsearch.encoder.runner import ModelOutputs, ModelRunner
from simsearch.errors import (
    DeadlineExceededError,
    InternalError,
    LimitExceededError,
    UnavailableError,
)
from simsearch.types import FloatArray, Pooling

__all__ = ["BatchObserver", "BatchScheduler", "SchedulerSettings"]

logger = logging.getLogger(__name__)

# A window holds this many batches' worth of texts: enough to sort away most padding across
# requests, few enough that a request arriving mid-window waits briefly.
_WINDOW_BATCHES = 4

# Told (rows, real tokens) after each forward pass; called in the worker thread, so quick.
BatchObserver = Callable[[int, int], None]


@dataclass(frozen=True)
class SchedulerSettings:
    """batch_size: most rows per pass; batch_tokens: most padded tokens (rows x longest row)
    per pass; batch_wait_ms: longest wait to fill a batch; max_queue_depth: most texts queued."""

    batch_size: int = 32
    batch_tokens: int = 8192
    batch_wait_ms: float = 2.0
    max_queue_depth: int = 4096

    def __post_init__(self) -> None:
        for name in ("batch_size", "batch_tokens", "max_queue_depth"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.batch_wait_ms < 0:
            raise ValueError(f"batch_wait_ms must be >= 0, got {self.batch_wait_ms}")


class BatchScheduler:
    """Runs jobs from many threads through ``runner`` in shared, length-sorted batches.

    Thread-safe. ``close()`` stops the worker; jobs still queued then fail with
    ``UnavailableError``.
    """

    def __init__(
        self,
        runner: ModelRunner,
        *,
        hidden_size: int,
        pad_id: int,
        settings: SchedulerSettings,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self._runner = runner
        self._on_batch = on_batch
        self._hidden_size = hidden_size
        self._pad_id = pad_id
        self._settings = settings
        self._wait_s = settings.batch_wait_ms / 1000.0
        self._cond = threading.Condition()
        self._queue: deque[PendingJob] = deque()
        self._queued_rows = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="simsearch-encoder", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        """Texts waiting for the worker (not yet in a batch)."""
        with self._cond:
            return self._queued_rows

    def run(self, job: Job, should_drop: Callable[[], bool] | None = None) -> JobResult:
        """Run ``job`` and wait for its result; raises what its own forward pass raised.

        ``should_drop``: polled while the job waits in the queue; when it returns True the job
        is dropped and fails with ``DeadlineExceededError`` (its caller has gone).
        """
        if not job.items:
            return JobResult(np.zeros((0, self._hidden_size), dtype=np.float32), [])
        pending = PendingJob(job, self._hidden_size, should_drop)
        self._submit(pending)
        return pending.future.result()

    def close(self) -> None:
        """Finish the batches in progress, fail queued jobs, stop the worker. Idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _submit(self, pending: PendingJob) -> None:
        rows = pending.queued
        with self._cond:
            if self._closed:
                raise UnavailableError("the encoder is shutting down")
            # An idle encoder takes any request, so one larger than the limit can still run.
            limit = self._settings.max_queue_depth
            if self._queued_rows and self._queued_rows + rows > limit:
                raise LimitExceededError(
                    f"the encoder has {self._queued_rows} texts queued and this request adds "
                    f"{rows}, over the limit of {limit} (max_queue_depth): retry later"
                )
            self._queue.append(pending)
            self._queued_rows += rows
            self._cond.notify()

    # -- worker thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        while (window := self._next_window()) is not None:
            try:
                self._run_window(window)
            except Exception:  # a bug: fail its callers rather than hang them
                logger.exception("encoder worker failed a window")
                for row in window:
                    row.pending.fail(InternalError("the encoder failed; see the server log"))

    def _next_window(self) -> list[Row] | None:
        """Block until a window is due; None once closed (queued jobs are failed)."""
        with self._cond:
            while True:
                if self._closed:
                    self._fail_queued()
                    return None
                self._drop_abandoned()
                delay = self._fill_delay()
                if delay == 0.0:
                    return self._take_window()
                self._cond.wait(delay)

    def _fill_delay(self) -> float | None:
        """Seconds to wait before taking a window: 0 now, None until work arrives."""
        if not self._queue:
            return None
        if self._queued_rows >= self._settings.batch_size:
            return 0.0
        oldest = min(pending.enqueued_at for pending in self._queue)
        return max(0.0, oldest + self._wait_s - time.monotonic())

    def _take_window(self) -> list[Row]:
        """Rows round-robin over queued jobs, ``batch_size`` per job per turn."""
        settings = self._settings
        max_rows = settings.batch_size * _WINDOW_BATCHES
        max_tokens = settings.batch_tokens * _WINDOW_BATCHES
        window: list[Row] = []
        tokens = 0
        while self._queue and len(window) < max_rows and tokens < max_tokens:
            pending = self._queue.popleft()
            rows = pending.take(min(settings.batch_size, max_rows - len(window)))
            window += rows
            tokens += sum(len(row.item) for row in rows)
            self._queued_rows -= len(rows)
            if pending.queued:
                self._queue.append(pending)  # to the back: the next turn goes to others
        return window

    def _drop_abandoned(self) -> None:
        """Remove failed jobs, and jobs whose ``should_drop`` says their caller has gone
        (called under the lock: the callbacks must be quick, e.g. ``context.is_active``)."""
        for pending in list(self._queue):
            if not pending.done and _caller_gone(pending):
                pending.fail(DeadlineExceededError("the caller stopped waiting for the encoder"))
            if pending.done:
                self._queue.remove(pending)
                self._queued_rows -= pending.queued

    def _fail_queued(self) -> None:
        for pending in self._queue:
            pending.fail(UnavailableError("the encoder is shutting down"))
        self._queue.clear()
        self._queued_rows = 0

    def _run_window(self, window: Sequence[Row]) -> None:
        settings = self._settings
        lengths = [len(row.item) for row in window]
        for indices in plan_batches(lengths, settings.batch_size, settings.batch_tokens):
            rows = [window[i] for i in indices if not window[i].pending.done]
            if rows:
                self._run_batch(rows)

    def _run_batch(self, rows: Sequence[Row]) -> None:
        """Forward and deliver; on failure retry each job's rows alone (one bad job fails)."""
        try:
            _deliver(rows, self._forward(rows))
            return
        except Exception as exc:
            error = exc
        groups: dict[int, list[Row]] = {}
        for row in rows:
            groups.setdefault(id(row.pending), []).append(row)
        if len(groups) == 1:
            rows[0].pending.fail(error)
            return
        logger.warning(
            "a batch of %d requests failed (%r); retrying each alone", len(groups), error
        )
        for own_rows in groups.values():
            try:
                _deliver(own_rows, self._forward(own_rows))
            except Exception as exc:
                own_rows[0].pending.fail(exc)

    def _forward(self, rows: Sequence[Row]) -> ModelOutputs:
        items = [row.item for row in rows]
        outputs = self._runner.forward(collate(items, self._pad_id))
        self._report(len(items), sum(len(item) for item in items))
        return outputs

    def _report(self, rows: int, tokens: int) -> None:
        """Tell ``on_batch`` about a pass; a broken observer is logged, never fails a job."""
        if self._on_batch is None:
            return
        try:
            self._on_batch(rows, tokens)
        except Exception:
            logger.exception("on_batch callback raised; the batch is delivered regardless")


def _caller_gone(pending: PendingJob) -> bool:
    if pending.should_drop is None:
        return False
    try:
        return pending.should_drop()
    except Exception:  # a broken callback must not stop the worker; keep the job
        logger.exception("should_drop callback raised; keeping the job")
        return False


def _deliver(rows: Sequence[Row], outputs: ModelOutputs) -> None:
    """Pool for every (pooling, normalize) the batch's jobs asked for, then hand out rows.

    Everything is computed before the first row is delivered, so a failure here delivers
    nothing and the retry in ``_run_batch`` cannot deliver a row twice.
    """
    specs = {(r.pending.job.pooling, r.pending.job.normalize) for r in rows}
    vectors = {
        (pooling, normalize): _pooled(outputs, pooling, normalize)
        for pooling, normalize in specs
        if pooling is not None
    }
    wants_tokens = any(row.pending.job.tokens for row in rows)
    hidden = _to_numpy(outputs.last_hidden_state) if wants_tokens else None
    for b, row in enumerate(rows):
        job = row.pending.job
        own = vectors.get((job.pooling, job.normalize)) if job.pooling is not None else None
        row.pending.deliver(
            row.index,
            None if own is None else own[b],
            None if hidden is None else hidden[b],
        )


def _pooled(outputs: ModelOutputs, pooling: Pooling, normalize: bool) -> FloatArray:
    vectors = pool(
        pooling, outputs.last_hidden_state, outputs.attention_mask, outputs.pooler_output
    )
    return _to_numpy(l2_normalize(vectors) if normalize else vectors)


def _to_numpy(tensor: torch.Tensor) -> FloatArray:
    """A CPU ``float32`` copy of ``tensor`` as numpy."""
    array: FloatArray = tensor.detach().to("cpu", torch.float32).numpy()
    return array
