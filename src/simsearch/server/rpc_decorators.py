"""Turn exceptions into gRPC statuses at the edge of every RPC.

A ``SimsearchError`` becomes its status code (``simsearch.wire.code_for``) with its message. A
``grpc.RpcError`` while a request stream is read means the caller cancelled or its deadline
passed: CANCELLED (the caller has gone and sees its own status). Anything else is a bug: it
is logged with its traceback and the caller gets INTERNAL with an incident id to quote, never
the traceback itself.

A status message travels in the response's trailing metadata, which clients cap (grpc's default:
16 KiB, with non-ASCII bytes sent as three); a longer one reaches the caller as
RESOURCE_EXHAUSTED instead of the real status. Messages quote requests shortened at the source
(``simsearch.errors.quoted``, ``first_few``), and every message is cut to
``MAX_STATUS_MESSAGE_BYTES`` here as well, whatever raised it.

Retries: clients retry RESOURCE_EXHAUSTED through gRPC's retry policy, since it often means
"overloaded" (the concurrency limit, the encoder's queue: ``OverloadedError``). Any other
``LimitExceededError`` raised here is a request over a configured limit (k, batch size, text
length, response size), which fails the same way every time: its status carries
``grpc-retry-pushback-ms: -1``, gRPC's trailer for "do not retry this call".
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn, TypeVar

import grpc

from simsearch.callers import caller_gone
from simsearch.errors import (
    DeadlineExceededError,
    LimitExceededError,
    OverloadedError,
    SimsearchError,
)
from simsearch.wire import code_for

__all__ = [
    "MAX_STATUS_MESSAGE_BYTES",
    "NO_RETRY",
    "abort_with",
    "fit_status_message",
    "rpc",
    "rpc_stream",
]

MAX_STATUS_MESSAGE_BYTES = 2048  # UTF-8; at most 6 KiB once percent-encoded on the wire
TRUNCATED = " … (message truncated)"
NO_RETRY = ("grpc-retry-pushback-ms", "-1")  # gRPC's retry policy: do not try this call again

_END = object()  # a response stream has no more messages

logger = logging.getLogger("simsearch.server")

Self = TypeVar("Self")
Request = TypeVar("Request")
Response = TypeVar("Response")
Handler = Callable[[Self, Request, grpc.ServicerContext], Response]


def rpc(handler: Handler[Self, Request, Response]) -> Handler[Self, Request, Response]:
    """Decorate a servicer method: deadline check first, errors mapped to statuses."""

    @functools.wraps(handler)
    def wrapper(self: Self, request: Request, context: grpc.ServicerContext) -> Response:
        gone = caller_gone.set(lambda: _has_gone(context))
        try:
            _check_deadline(context)
            return handler(self, request, context)
        except SimsearchError as exc:
            abort_with(context, exc)
        except grpc.RpcError:  # a request stream broke off: the caller cancelled or timed out
            _abort(context, grpc.StatusCode.CANCELLED, "the call ended before its stream did")
        except Exception:
            incident = uuid.uuid4().hex[:12]
            logger.exception("internal error in %s (incident %s)", handler.__name__, incident)
            _abort(
                context,
                grpc.StatusCode.INTERNAL,
                f"internal error (incident {incident}); the server log has the details",
            )
        finally:
            caller_gone.reset(gone)

    return wrapper


def rpc_stream(
    handler: Handler[Self, Request, Iterable[Response]],
) -> Handler[Self, Request, Iterator[Response]]:
    """Decorate a servicer method that answers with a stream of messages: the call and then
    the making of each message run as ``rpc`` runs a call (deadline checked first, errors
    mapped to statuses, ``caller_gone`` set), and a caller that has gone (cancelled, or past
    its deadline) ends the stream before the next message is made."""

    def begin(self: Self, request: Request, context: grpc.ServicerContext) -> Iterator[Response]:
        return iter(handler(self, request, context))

    def take(responses: Iterator[Response], request: None, context: grpc.ServicerContext) -> Any:
        return next(responses, _END)

    begin.__name__ = take.__name__ = handler.__name__  # for the log of an internal error
    start, step = rpc(begin), rpc(take)

    @functools.wraps(handler)
    def wrapper(self: Self, request: Request, context: grpc.ServicerContext) -> Iterator[Response]:
        responses = start(self, request, context)
        while not _has_gone(context):
            response = step(responses, None, context)
            if response is _END:
                return
            yield response

    return wrapper


def abort_with(context: grpc.ServicerContext, error: SimsearchError) -> NoReturn:
    """End the call with ``error``'s status code and message; a permanent one is not retried."""
    if _permanent(error):
        context.set_trailing_metadata((NO_RETRY,))
    _abort(context, code_for(error), str(error))


def _permanent(error: SimsearchError) -> bool:
    """Over a configured limit: a retry would be refused the same way."""
    return isinstance(error, LimitExceededError) and not isinstance(error, OverloadedError)


def _has_gone(context: grpc.ServicerContext) -> bool:
    """Cancelled, or past its deadline: work queued for it can be dropped."""
    remaining = context.time_remaining()
    return not context.is_active() or (remaining is not None and remaining <= 0)


def _check_deadline(context: grpc.ServicerContext) -> None:
    """Drop a request whose caller has already given up before doing any work for it."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise DeadlineExceededError("the request's deadline passed before it was started")


def fit_status_message(message: str, limit: int = MAX_STATUS_MESSAGE_BYTES) -> str:
    """``message``, or its first bytes (whole UTF-8 characters) and a note that it was cut,
    within ``limit`` bytes."""
    encoded = message.encode()
    if len(encoded) <= limit:
        return message
    head = encoded[: limit - len(TRUNCATED.encode())].decode(errors="ignore")
    return head + TRUNCATED


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, fit_status_message(message))
    raise AssertionError("unreachable: context.abort raises")
