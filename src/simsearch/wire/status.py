"""The one table between the exception tree and gRPC status codes, used in both directions."""

from __future__ import annotations

import grpc

from simsearch import errors

__all__ = ["code_for", "error_for"]

_CODES: dict[type[errors.SimsearchError], grpc.StatusCode] = {
    errors.InvalidArgumentError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFoundError: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExistsError: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPreconditionError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.LimitExceededError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.UnauthenticatedError: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDeniedError: grpc.StatusCode.PERMISSION_DENIED,
    errors.UnavailableError: grpc.StatusCode.UNAVAILABLE,
    errors.DataLossError: grpc.StatusCode.DATA_LOSS,
    errors.DeadlineExceededError: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.InternalError: grpc.StatusCode.INTERNAL,
}
_ERRORS = {code: error for error, code in _CODES.items()}


def code_for(error: errors.SimsearchError) -> grpc.StatusCode:
    """The status code for an error (its nearest listed base class; INTERNAL otherwise)."""
    for cls in type(error).__mro__:
        if cls in _CODES:
            return _CODES[cls]
    return grpc.StatusCode.INTERNAL


def error_for(code: grpc.StatusCode) -> type[errors.SimsearchError]:
    """The exception class a client raises for a status code (SimsearchError if unmapped)."""
    return _ERRORS.get(code, errors.SimsearchError)
