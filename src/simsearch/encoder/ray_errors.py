"""Ray and Ray Serve failures as simsearch errors, so a client sees a documented status code.

========================================================  =====================================
Ray / Serve                                               simsearch (gRPC status)
========================================================  =====================================
``BackPressureError`` (over ``max_queued_requests``)      OverloadedError (RESOURCE_EXHAUSTED)
cancelled (the caller went away), timed out               DeadlineExceededError (DEADLINE_EXCEEDED)
replica / actor / worker / node died, replica or
deployment unavailable, cluster unreachable, any other
Ray error                                                 UnavailableError (UNAVAILABLE)
a replica raised something that is not a simsearch error  InternalError (INTERNAL; a bug, logged)
========================================================  =====================================

A simsearch error raised on a replica travels back as a value (``ray_replica.Reply``) and is
re-raised as itself by the front; one that still arrives wrapped in a task error is unwrapped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging

from simsearch.errors import (
    DeadlineExceededError,
    InternalError,
    OverloadedError,
    SimsearchError,
    UnavailableError,
)

__all__ = ["from_ray"]

logger = logging.getLogger(__name__)

_CANCELLED = (asyncio.CancelledError, concurrent.futures.CancelledError)


def from_ray(exc: BaseException, *, replicas: str) -> SimsearchError:
    """The simsearch error for ``exc``, raised by a Ray Serve call to ``replicas`` (a name
    for messages, such as the application's)."""
    from ray.exceptions import RayError, RayTaskError, TaskCancelledError
    from ray.serve.exceptions import BackPressureError, RayServeException

    if isinstance(exc, SimsearchError):
        return exc
    if isinstance(exc, RayTaskError):
        return _from_task_error(exc, replicas)
    if isinstance(exc, BackPressureError):
        return OverloadedError(
            f"the encoder replicas of {replicas} are saturated ({exc.message}): retry later, "
            "or run more replicas"
        )
    if isinstance(exc, (TaskCancelledError, *_CANCELLED)):
        return DeadlineExceededError("the caller went away; its encoder call was cancelled")
    if isinstance(exc, TimeoutError):  # ray.exceptions.GetTimeoutError is one
        return DeadlineExceededError(f"the encoder replicas of {replicas} did not answer in time")
    if isinstance(exc, (RayError, RayServeException, ConnectionError)):
        return UnavailableError(
            f"the encoder replicas of {replicas} are unavailable ({_describe(exc)}); "
            "retry shortly: Ray Serve restarts failed replicas"
        )
    logger.error("unexpected failure calling %s", replicas, exc_info=exc)
    return InternalError("the encoder failed; see the server log")


def _from_task_error(exc: BaseException, replicas: str) -> SimsearchError:
    """A replica raised: its own simsearch error, a Ray failure seen there, or a bug."""
    from ray.exceptions import RayError
    from ray.serve.exceptions import RayServeException

    cause = getattr(exc, "cause", None)
    if isinstance(cause, SimsearchError):
        return cause
    if isinstance(cause, (RayError, RayServeException, *_CANCELLED)):
        return from_ray(cause, replicas=replicas)
    logger.error("an encoder replica of %s failed: %s", replicas, exc)
    return InternalError("an encoder replica failed; see the server log")


def _describe(exc: BaseException) -> str:
    """The error's class and the first line of its message (Ray's run to many lines)."""
    message = getattr(exc, "message", None) or str(exc)
    first = str(message).strip().splitlines()[0] if str(message).strip() else ""
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__
