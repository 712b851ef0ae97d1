"""The one exception tree of simsearch.

Every error the service raises on purpose is a :class:`SimsearchError`. The server maps
each class to one gRPC status code (``simsearch.wire.status``) and the client maps the
code back to the same class, so callers catch the same exceptions in-process and remotely::

    SimsearchError
    ├── InvalidArgumentError      INVALID_ARGUMENT    bad input: empty batch, blank text, k <= 0
    ├── NotFoundError             NOT_FOUND           unknown collection or document id
    ├── AlreadyExistsError        ALREADY_EXISTS      collection name taken
    ├── FailedPreconditionError   FAILED_PRECONDITION collection built by another model / pooling
    ├── LimitExceededError        RESOURCE_EXHAUSTED  over a configured limit (not retried)
    │   └── OverloadedError       RESOURCE_EXHAUSTED  busy right now (clients retry it)
    ├── UnauthenticatedError      UNAUTHENTICATED     no or unknown credentials
    ├── PermissionDeniedError     PERMISSION_DENIED   credentials lack the role
    ├── UnavailableError          UNAVAILABLE         not ready, shutting down, storage unusable
    │   └── DataLossError         DATA_LOSS           a stored document failed its checksum
    ├── DeadlineExceededError     DEADLINE_EXCEEDED   the caller's deadline passed
    └── InternalError             INTERNAL            a bug; the server logs the traceback

Messages are written for the person who has to fix the request: they say what was wrong,
where (which item of a batch), and what is allowed. They quote what the caller sent through
:func:`quoted` and :func:`first_few`, so a message stays small however large the request was
(a status message travels in gRPC metadata, which clients cap at 16 KiB).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AlreadyExistsError",
    "DataLossError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "LimitExceededError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "SimsearchError",
    "UnauthenticatedError",
    "UnavailableError",
    "first_few",
    "quoted",
    "with_committed",
]

QUOTE_CHARS = 80  # of a quoted value, before it is cut
FEW = 5  # items a message lists before "and N more"


class SimsearchError(Exception):
    """Base class of every error simsearch raises on purpose."""


class InvalidArgumentError(SimsearchError):
    """The request itself is wrong; retrying it unchanged fails again."""


class NotFoundError(SimsearchError):
    """A named collection or document does not exist."""


class AlreadyExistsError(SimsearchError):
    """Something with that name exists already."""


class FailedPreconditionError(SimsearchError):
    """The request is well formed but the system is not in a state to run it."""


class LimitExceededError(SimsearchError):
    """The request is over a configured limit, or the server is overloaded."""


class OverloadedError(LimitExceededError):
    """The server is busy right now (a full queue): the same request may succeed later, so
    clients retry it with backoff, unlike a request over a configured limit."""


class UnauthenticatedError(SimsearchError):
    """The request carries no valid credentials."""


class PermissionDeniedError(SimsearchError):
    """The credentials are valid but do not allow this call."""


class UnavailableError(SimsearchError):
    """The service cannot serve right now (starting, stopping, storage failing)."""


class DataLossError(UnavailableError):
    """Stored data is damaged (a row no longer matches its checksum): it is not served.

    An ``UnavailableError`` (storage failing), with its own code so that a caller can tell
    "retry later" from "this document must be written again or restored from a backup"."""


class DeadlineExceededError(SimsearchError):
    """The caller's deadline passed before the work was done."""


class InternalError(SimsearchError):
    """A bug in simsearch, not the caller's fault."""


def quoted(value: str, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)``, cut after ``limit`` characters with the full length said: a message
    quoting a caller's string stays readable and small whatever was sent."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(value):,} characters)"


def first_few(values: Sequence[str], shown: int = FEW) -> str:
    """``values`` for a message: the first ``shown`` quoted, then "and N more"."""
    listed = f"[{', '.join(quoted(value) for value in values[:shown])}]"
    rest = len(values) - shown
    return f"{listed} and {rest:,} more" if rest > 0 else listed


def with_committed(error: SimsearchError, committed: int) -> SimsearchError:
    """The same kind of error, saying how many documents were stored before it: a bulk upsert
    keeps the chunks before a failure, and the caller resends only the rest."""
    return type(error)(f"{error} ({committed} documents were committed before)")
