"""Helpers shared by the server interceptors: rewrap a method handler's behaviour.

grpc runs ``intercept_service`` on its polling thread, before the call reaches a worker; what
an interceptor wants to do *during* the call (hold a slot, time it, refuse it) goes into a
replacement behaviour, built here for whichever of the four handler kinds grpc found.

grpc asks every interceptor for every call, on its one polling thread (which serves every
call), and gets the same handler from the service each time; ``WrappedHandlers`` makes each
wrapped handler once instead of once per call.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc

__all__ = [
    "SERVICE_PREFIX",
    "Behavior",
    "Continuation",
    "SimSearchInterceptor",
    "WrappedHandlers",
    "abort_handler",
    "method_name",
    "replace_behavior",
]

logger = logging.getLogger("simsearch.server")

SERVICE_PREFIX = "/simsearch.v1.SimSearch/"

# (request or request iterator, context) -> response or response iterator
Behavior = Callable[[Any, grpc.ServicerContext], Any]
Continuation = Callable[[grpc.HandlerCallDetails], "grpc.RpcMethodHandler[Any, Any] | None"]
if TYPE_CHECKING:  # the handler class is generic in grpc's stubs only
    Handler = grpc.RpcMethodHandler[Any, Any]


class WrappedHandlers:
    """``wrap(method, handler)`` made once per (method, handler), then reused.

    At most ``limit`` are kept (handlers made per call, such as refusals, must not grow it
    without bound); past that, wrappers are made per call again. A race makes one twice, which
    is harmless: both behave alike.
    """

    def __init__(self, wrap: Callable[[str, Handler], Handler], limit: int = 1024) -> None:
        self._wrap = wrap
        self._limit = limit
        self._made: dict[tuple[str, Handler], Handler] = {}

    def get(self, method: str, handler: Handler) -> Handler:
        key = (method, handler)
        wrapped = self._made.get(key)
        if wrapped is None:
            wrapped = self._wrap(method, handler)
            if len(self._made) < self._limit:
                self._made[key] = wrapped
        return wrapped


class SimSearchInterceptor(grpc.ServerInterceptor):
    """An interceptor that wraps the handler of each SimSearch method (once, through
    ``WrappedHandlers``); other services (health, reflection) pass untouched. Subclasses say
    how to wrap (``_wrap``) and may leave some handlers alone (``_applies``)."""

    def __init__(self) -> None:
        self._handlers = WrappedHandlers(self._wrap)

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(SERVICE_PREFIX) or not self._applies(handler):
            return handler
        return self._handlers.get(method, handler)

    def _applies(self, handler: Handler) -> bool:
        return True

    @abc.abstractmethod
    def _wrap(self, method: str, handler: Handler) -> Handler:
        """The handler that runs instead of ``handler`` for ``method``."""


def method_name(full_method: str) -> str:
    """``/simsearch.v1.SimSearch/Search`` -> ``Search``."""
    return full_method.rsplit("/", 1)[-1]


def replace_behavior(
    handler: Handler,
    wrap: Callable[[Behavior], Behavior],
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Handler:
    """A handler of the same kind and serializers whose behaviour is ``wrap(behaviour)``;
    ``request_deserializer``, when given, replaces the handler's."""
    args = (request_deserializer or handler.request_deserializer, handler.response_serializer)
    if handler.request_streaming and handler.response_streaming:
        assert handler.stream_stream is not None
        return grpc.stream_stream_rpc_method_handler(wrap(handler.stream_stream), *args)
    if handler.request_streaming:
        assert handler.stream_unary is not None
        return grpc.stream_unary_rpc_method_handler(wrap(handler.stream_unary), *args)
    if handler.response_streaming:
        assert handler.unary_stream is not None
        return grpc.unary_stream_rpc_method_handler(wrap(handler.unary_stream), *args)
    assert handler.unary_unary is not None
    return grpc.unary_unary_rpc_method_handler(wrap(handler.unary_unary), *args)


def abort_handler(handler: Handler, code: grpc.StatusCode, message: str, method: str) -> Handler:
    """A handler like ``handler`` that answers every call with ``code`` and ``message``."""

    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        logger.info("%s refused %s to %s: %s", method, code.name, context.peer(), message)
        context.abort(code, message)

    return replace_behavior(handler, lambda _: refuse)
