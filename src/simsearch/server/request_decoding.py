"""Requests that do not decode get INVALID_ARGUMENT, not grpc's INTERNAL; requests over
``max_message_bytes`` get RESOURCE_EXHAUSTED that clients do not retry.

grpc answers INTERNAL ("Exception deserializing request!") when a request's bytes do not parse:
invalid UTF-8 in a string field, a Struct nested past protobuf's recursion limit, or random
bytes. That is the caller's fault, not a bug, so ``DecodeRequests`` gives every SimSearch method
a deserializer that never raises: it returns an ``Undecodable`` marker instead, and the method
answers INVALID_ARGUMENT with the parser's complaint. A request stream (UpsertStream) fails the
same way at the first chunk that does not parse, after the chunks before it were committed.

The size limit is checked here too, on the request's bytes. grpc's own limit answers
RESOURCE_EXHAUSTED with no way to add the "do not retry" trailer
(``rpc_decorators.NO_RETRY``), and clients retry RESOURCE_EXHAUSTED: a request that fits a
client's retry buffer (256 KiB) would be sent up to five times to be refused each time. So
grpc's limit is raised to at least ``NEVER_RETRIED_BYTES`` (``grpc_receive_limit``) and the
real one is enforced here.

It must be the innermost interceptor: the outer ones rebuild handlers with the deserializer of
the handler they wrap (``method_handlers.replace_behavior``), so they keep this one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc

from simsearch.errors import InvalidArgumentError, LimitExceededError, SimsearchError
from simsearch.server.method_handlers import (
    Behavior,
    SimSearchInterceptor,
    replace_behavior,
)
from simsearch.server.rpc_decorators import abort_with

if TYPE_CHECKING:
    from simsearch.server.method_handlers import Handler

__all__ = ["NEVER_RETRIED_BYTES", "DecodeRequests", "Undecodable", "grpc_receive_limit"]

# Larger than gRPC clients' retry buffer (256 KiB by default): a call sending more is never
# retried, so grpc's own refusal of it is enough.
NEVER_RETRIED_BYTES = 512 * 1024


def grpc_receive_limit(max_message_bytes: int) -> int:
    """The receive limit to give grpc: ``max_message_bytes``, or ``NEVER_RETRIED_BYTES`` when
    that is larger (``DecodeRequests`` refuses the messages in between)."""
    return max(max_message_bytes, NEVER_RETRIED_BYTES)


class Undecodable:
    """Stands in for a request whose bytes were not parsed; ``error`` says why."""

    __slots__ = ("error",)

    def __init__(self, error: SimsearchError) -> None:
        self.error = error


class DecodeRequests(SimSearchInterceptor):
    """Turns request decoding failures of SimSearch methods into INVALID_ARGUMENT, and
    requests over ``max_message_bytes`` into RESOURCE_EXHAUSTED."""

    def __init__(self, max_message_bytes: int) -> None:
        self._limit = max_message_bytes
        super().__init__()

    def _applies(self, handler: Handler) -> bool:
        return handler.request_deserializer is not None

    def _wrap(self, method: str, handler: Handler) -> Handler:
        assert handler.request_deserializer is not None
        wrap = _stream if handler.request_streaming else _unary
        decode = _tolerant(handler.request_deserializer, self._limit)
        return replace_behavior(handler, wrap, decode)


def _tolerant(parse: Callable[[bytes], Any], limit: int) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        if len(data) > limit:
            return Undecodable(
                LimitExceededError(
                    f"the request is {len(data):,} bytes, over the server's limit of {limit:,} "
                    "(max_message_bytes)"
                )
            )
        try:
            return parse(data)
        except Exception as exc:  # bytes off the network: any parse failure is the caller's
            return Undecodable(InvalidArgumentError(f"the request does not decode: {exc}"))

    return decode


def _unary(behavior: Behavior) -> Behavior:
    def checked(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            abort_with(context, request.error)
        return behavior(request, context)

    return checked


def _stream(behavior: Behavior) -> Behavior:
    """The servicer's ``rpc`` wrapper maps the error raised mid-stream."""

    def checked(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        return behavior(_decoded(requests), context)

    return checked


def _decoded(requests: Iterator[Any]) -> Iterator[Any]:
    for request in requests:
        if isinstance(request, Undecodable):
            raise request.error
        yield request
