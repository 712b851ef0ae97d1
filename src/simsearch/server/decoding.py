"""Requests that do not decode get INVALID_ARGUMENT, not grpc's INTERNAL.

grpc answers INTERNAL ("Exception deserializing request!") when a request's bytes do not parse:
invalid UTF-8 in a string field, a Struct nested past protobuf's recursion limit, or random
bytes. That is the caller's fault, not a bug, so ``DecodeRequests`` gives every SimSearch method
a deserializer that never raises: it returns an ``Undecodable`` marker instead, and the method
answers INVALID_ARGUMENT with the parser's complaint. A request stream (UpsertStream) fails the
same way at the first chunk that does not parse, after the chunks before it were committed.

It must be the innermost interceptor: the outer ones rebuild handlers with the deserializer of
the handler they wrap (``intercept.replace_behavior``), so they keep this one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc

from simsearch.errors import InvalidArgumentError
from simsearch.server.intercept import SERVICE_PREFIX, Behavior, WrappedHandlers, replace_behavior

if TYPE_CHECKING:
    from simsearch.server.intercept import Handler
from simsearch.wire import code_for

__all__ = ["DecodeRequests", "Undecodable"]


class Undecodable:
    """Stands in for a request whose bytes did not parse; ``error`` says why."""

    __slots__ = ("error",)

    def __init__(self, error: InvalidArgumentError) -> None:
        self.error = error


class DecodeRequests(grpc.ServerInterceptor):
    """Turns request decoding failures of SimSearch methods into INVALID_ARGUMENT."""

    def __init__(self) -> None:
        self._handlers = WrappedHandlers(_tolerant_handler)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if (
            handler is None
            or handler.request_deserializer is None
            or not handler_call_details.method.startswith(SERVICE_PREFIX)
        ):
            return handler
        return self._handlers.get(handler_call_details.method, handler)


def _tolerant_handler(method: str, handler: Handler) -> Handler:
    assert handler.request_deserializer is not None
    wrap = _stream if handler.request_streaming else _unary
    return replace_behavior(handler, wrap, _tolerant(handler.request_deserializer))


def _tolerant(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception as exc:  # bytes off the network: any parse failure is the caller's
            return Undecodable(InvalidArgumentError(f"the request does not decode: {exc}"))

    return decode


def _unary(behavior: Behavior) -> Behavior:
    def checked(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            context.abort(code_for(request.error), str(request.error))
        return behavior(request, context)

    return checked


def _stream(behavior: Behavior) -> Behavior:
    """The servicer's ``rpc`` wrapper maps the InvalidArgumentError raised mid-stream."""

    def checked(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        return behavior(_decoded(requests), context)

    return checked


def _decoded(requests: Iterator[Any]) -> Iterator[Any]:
    for request in requests:
        if isinstance(request, Undecodable):
            raise request.error
        yield request
