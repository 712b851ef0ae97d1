"""Cross-request batching: one worker thread runs every forward pass, for all callers.

Callers tokenize in their own thread (so a bad input fails its own request before any
queueing) and :meth:`BatchScheduler.run` a :class:`~simsearch.encoder.jobs.Job`. The worker
loops:

1. Wait for work. When fewer than ``batch_size`` texts are queued and fewer jobs than the
   callers expected back (those the last window answered, plus those that queued while it
   ran), wait (``fill_delay``) up to ``batch_wait_ms``, or a quarter of the last window's
   run time if that is longer, from the later of the oldest job's arrival and the last
   window's end, so concurrent small requests share a pass. Work that queued during a pass
   thus waits briefly for the callers that pass answered: 32 closed-loop callers otherwise
   split into two groups that take turns (one in the model while the other comes back),
   each pass half as full. A lone caller (one answered, none queued) never waits. A submit
   wakes the worker only when the window may be due at once (the queue was empty, or it now
   holds a full batch or every expected job): its timed wait ends by itself otherwise.
2. Take a window of up to ``_WINDOW_BATCHES`` batches' worth of texts, round-robin over the
   queued jobs, at most ``batch_size`` from each per turn: a large job is split into slices,
   and small jobs queued behind it wait for one window, not for the whole large job.
3. Sort the window by length, cut it into batches bounded by ``batch_size`` rows and
   ``batch_tokens`` padded tokens where the estimated time is least (``plan_batches``), run
   each, and hand every row to its own job.

The plan's cost of a pass (``pass_tokens``) is learned from the passes themselves: each
pass is timed (collating, the model, pooling and delivery) and fed to a
:class:`~simsearch.encoder.pass_cost.PassCostModel`, so the cut follows the engine, precision
and machine it runs on (``SchedulerSettings.pass_tokens`` can fix it instead).

A batch whose pass fails is retried one job at a time, so only the job that fails alone
fails. Queued texts over ``max_queue_depth`` refuse new work at once (``OverloadedError``,
which clients retry).
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

from simsearch.callers import CallerGone
from simsearch.encoder.batching import collate, plan_batches
from simsearch.encoder.jobs import Job, JobResult, PendingJob, ScheduledInput
from simsearch.encoder.pass_cost import PassCostModel
from simsearch.encoder.pooling import l2_normalize, pool
from simsearch.encoder.runner import ModelOutputs, ModelRunner
from simsearch.errors import (
    DeadlineExceededError,
    InternalError,
    OverloadedError,
    UnavailableError,
)
from simsearch.types import FloatArray, Pooling

__all__ = ["BatchObserver", "BatchScheduler", "SchedulerSettings", "fill_delay"]

logger = logging.getLogger(__name__)

# A window holds this many batches' worth of texts: enough to sort away most padding across
# requests (at the default batch_size of 64, 128 texts), few enough that a request arriving
# mid-window waits briefly.
_WINDOW_BATCHES = 2

# While callers of the last windows are still coming back, a window waits for them up to this
# share of the last window's run time (when longer than batch_wait_ms): 32 single-text
# callers take ~5 ms to resubmit after their pass on 2 cores, longer than the 2 ms default,
# and windows cut by that wait held half of them. Bounded, so idle time stays a small share.
_GATHER_SHARE = 0.25

# Told (rows, real tokens) after each forward pass; called in the worker thread, so quick.
BatchObserver = Callable[[int, int], None]


@dataclass(frozen=True)
class SchedulerSettings:
    """batch_size: most rows per pass; batch_tokens: most padded tokens (rows x longest row)
    per pass; batch_wait_ms: longest wait to fill a batch; max_queue_depth: most texts queued;
    pass_tokens: the fixed cost of a pass in padded tokens for the plan (None: learned from
    timed passes, starting from ``batching.PASS_TOKENS``)."""

    batch_size: int = 64
    batch_tokens: int = 8192
    batch_wait_ms: float = 2.0
    max_queue_depth: int = 4096
    pass_tokens: float | None = None

    def __post_init__(self) -> None:
        for name in ("batch_size", "batch_tokens", "max_queue_depth"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.pass_tokens is not None and not self.pass_tokens >= 0:
            raise ValueError(f"pass_tokens must be >= 0, got {self.pass_tokens}")
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
        self._pass_cost = PassCostModel() if settings.pass_tokens is None else None
        # Set by the worker under the lock: the callers expected back (jobs the last window
        # answered, plus jobs queued when it ended), when it ended and how long it ran.
        self._expected_jobs = 0
        self._last_window_end = 0.0
        self._last_window_s = 0.0
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

    @property
    def pass_tokens(self) -> float:
        """The fixed cost of a pass, in padded tokens, that the plan uses now."""
        if self._pass_cost is None:
            return float(self._settings.pass_tokens or 0.0)
        return self._pass_cost.pass_tokens

    def run(self, job: Job, gone: CallerGone | None = None) -> JobResult:
        """Run ``job`` and wait for its result; raises what its own forward pass raised.

        ``gone``: polled while the job waits in the queue; when it returns True the job
        is dropped and fails with ``DeadlineExceededError`` (its caller has gone).
        """
        if not job.items:
            return JobResult(np.zeros((0, self._hidden_size), dtype=np.float32), [])
        pending = PendingJob(job, self._hidden_size, gone)
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
                raise OverloadedError(
                    f"the encoder has {self._queued_rows} texts queued and this request adds "
                    f"{rows}, over the limit of {limit} (max_queue_depth): retry later"
                )
            self._queue.append(pending)
            self._queued_rows += rows
            # Wake the worker only when it must look now: it waits without a timeout for an
            # empty queue, and its timed wait ends by itself unless the window became due by
            # count. 32 single-text callers woke it ~15 times a window, for nothing.
            if len(self._queue) == 1 or self._due_by_count():
                self._cond.notify()

    def _due_by_count(self) -> bool:
        """Whether the queued work makes a window due at once (called under the lock)."""
        return _full_or_all_back(
            queued_rows=self._queued_rows,
            queued_jobs=len(self._queue),
            expected_jobs=self._expected_jobs,
            batch_size=self._settings.batch_size,
        )

    # -- worker thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        while (window := self._next_window()) is not None:
            started = time.monotonic()
            try:
                self._run_window(window)
                self._last_window_s = time.monotonic() - started
            except Exception:  # a bug: fail its callers rather than hang them
                logger.exception("encoder worker failed a window")
                for row in window:
                    row.pending.fail(InternalError("the encoder failed; see the server log"))
            answered = len({id(row.pending) for row in window if row.pending.done})
            with self._cond:
                self._expected_jobs = answered + len(self._queue)
                self._last_window_end = time.monotonic()

    def _next_window(self) -> list[ScheduledInput] | None:
        """Block until a window is due; None once closed (queued jobs are failed)."""
        with self._cond:
            while True:
                if self._closed:
                    self._fail_queued()
                    return None
                delay = self._fill_delay()
                if delay == 0.0:
                    # Gone callers are looked for only when a window is due: a look asks every
                    # queued job, and every submit wakes this loop.
                    self._drop_abandoned()
                    if self._queue:
                        return self._take_window()
                    continue
                self._cond.wait(delay)

    def _fill_delay(self) -> float | None:
        """Seconds to wait before taking a window: 0 now, None until work arrives."""
        if not self._queue:
            return None
        return fill_delay(
            now=time.monotonic(),
            oldest=min(pending.enqueued_at for pending in self._queue),
            queued_rows=self._queued_rows,
            queued_jobs=len(self._queue),
            expected_jobs=self._expected_jobs,
            batch_size=self._settings.batch_size,
            wait_s=self._wait_s,
            last_window_s=self._last_window_s,
            last_window_end=self._last_window_end,
        )

    def _take_window(self) -> list[ScheduledInput]:
        """Rows round-robin over queued jobs, ``batch_size`` per job per turn."""
        settings = self._settings
        max_rows = settings.batch_size * _WINDOW_BATCHES
        max_tokens = settings.batch_tokens * _WINDOW_BATCHES
        window: list[ScheduledInput] = []
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
        """Remove failed jobs, and jobs whose ``gone`` says their caller has gone
        (called under the lock: the callbacks must be quick, e.g. ``context.is_active``)."""
        for pending in list(self._queue):
            if not pending.done and _has_gone(pending):
                pending.fail(DeadlineExceededError("the caller stopped waiting for the encoder"))
            if pending.done:
                self._queue.remove(pending)
                self._queued_rows -= pending.queued

    def _fail_queued(self) -> None:
        for pending in self._queue:
            pending.fail(UnavailableError("the encoder is shutting down"))
        self._queue.clear()
        self._queued_rows = 0

    def _run_window(self, window: Sequence[ScheduledInput]) -> None:
        settings = self._settings
        lengths = [len(row.item) for row in window]
        plan = plan_batches(
            lengths,
            settings.batch_size,
            settings.batch_tokens,
            self.pass_tokens,
            packed=self._runner.packs,
        )
        for indices in plan:
            rows = [window[i] for i in indices if not window[i].pending.done]
            if rows:
                self._run_batch(rows)

    def _run_batch(self, rows: Sequence[ScheduledInput]) -> None:
        """Forward and deliver; on failure retry each job's rows alone (one bad job fails).
        A pass that succeeds is timed whole (collating, the model, pooling, delivery: what
        another pass would cost again) for the plan's cost model."""
        try:
            started = time.perf_counter()
            _deliver(rows, self._forward(rows))
            if self._pass_cost is not None:
                padded = len(rows) * max(len(row.item) for row in rows)
                self._pass_cost.observe(padded, time.perf_counter() - started)
            return
        except Exception as exc:
            error = exc
        groups: dict[int, list[ScheduledInput]] = {}
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

    def _forward(self, rows: Sequence[ScheduledInput]) -> ModelOutputs:
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


def fill_delay(
    *,
    now: float,
    oldest: float,
    queued_rows: int,
    queued_jobs: int,
    expected_jobs: int,
    batch_size: int,
    wait_s: float,
    last_window_s: float,
    last_window_end: float,
) -> float:
    """Seconds before the next window is due (0: now), given the queue and recent history.

    Due at once when a full batch is queued, or when as many jobs are queued as callers are
    expected back (``expected_jobs``: those the last window answered plus those queued when it
    ended; so a lone caller sending one request at a time never waits). Otherwise due
    ``wait_s``, or ``_GATHER_SHARE`` of the last window's run time if longer, after the later
    of the ``oldest`` queued job's arrival and the ``last_window_end``.
    """
    if _full_or_all_back(
        queued_rows=queued_rows,
        queued_jobs=queued_jobs,
        expected_jobs=expected_jobs,
        batch_size=batch_size,
    ):
        return 0.0
    patience = max(wait_s, _GATHER_SHARE * last_window_s)
    return max(0.0, max(oldest, last_window_end) + patience - now)


def _full_or_all_back(
    *, queued_rows: int, queued_jobs: int, expected_jobs: int, batch_size: int
) -> bool:
    """A window is due at once when a full batch is queued or every expected caller is."""
    return queued_rows >= batch_size or queued_jobs >= expected_jobs


def _has_gone(pending: PendingJob) -> bool:
    if pending.gone is None:
        return False
    try:
        return pending.gone()
    except Exception:  # a broken callback must not stop the worker; keep the job
        logger.exception("gone callback raised; keeping the job")
        return False


def _deliver(rows: Sequence[ScheduledInput], outputs: ModelOutputs) -> None:
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
