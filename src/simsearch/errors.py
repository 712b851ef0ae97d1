"""The one exception tree of simsearch.

Every error the service raises on purpose is a :class:`SimsearchError`. The server maps
each class to one gRPC status code (``simsearch.server.status``) and the client maps the
code back to the same class, so callers catch the same exceptions in-process and remotely::

    SimsearchError
    ├── InvalidArgumentError      INVALID_ARGUMENT    bad input: empty batch, blank text, k <= 0
    ├── NotFoundError             NOT_FOUND           unknown collection or document id
    ├── AlreadyExistsError        ALREADY_EXISTS      collection name taken
    ├── FailedPreconditionError   FAILED_PRECONDITION collection built by another model / pooling
    ├── LimitExceededError        RESOURCE_EXHAUSTED  over a configured limit, or overloaded
    ├── UnauthenticatedError      UNAUTHENTICATED     no or unknown credentials
    ├── PermissionDeniedError     PERMISSION_DENIED   credentials lack the role
    ├── UnavailableError          UNAVAILABLE         not ready, shutting down, storage unusable
    ├── DeadlineExceededError     DEADLINE_EXCEEDED   the caller's deadline passed
    └── InternalError             INTERNAL            a bug; the server logs the traceback

Messages are written for the person who has to fix the request: they say what was wrong,
where (which item of a batch), and what is allowed.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "LimitExceededError",
    "NotFoundError",
    "PermissionDeniedError",
    "SimsearchError",
    "UnauthenticatedError",
    "UnavailableError",
]


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


class UnauthenticatedError(SimsearchError):
    """The request carries no valid credentials."""


class PermissionDeniedError(SimsearchError):
    """The credentials are valid but do not allow this call."""


class UnavailableError(SimsearchError):
    """The service cannot serve right now (starting, stopping, storage failing)."""


class DeadlineExceededError(SimsearchError):
    """The caller's deadline passed before the work was done."""


class InternalError(SimsearchError):
    """A bug in simsearch, not the caller's fault."""
