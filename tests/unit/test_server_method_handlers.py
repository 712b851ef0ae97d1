"""Interceptor plumbing: wrapped handlers are made once per method, and the concurrency limit
gives back every slot it takes, whatever the call does."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from simsearch.server.limits import ConcurrencyLimit
from simsearch.server.method_handlers import SERVICE_PREFIX, WrappedHandlers

METHOD = SERVICE_PREFIX + "Encode"


class _AbortedError(Exception):
    pass


class _Context:
    def __init__(self) -> None:
        self.code: grpc.StatusCode | None = None

    def abort(self, code: grpc.StatusCode, message: str) -> None:
        self.code = code
        raise _AbortedError(message)


class _Details:
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


def _unary(behavior: Any) -> Any:
    return grpc.unary_unary_rpc_method_handler(behavior)


def _stream(behavior: Any) -> Any:
    return grpc.stream_unary_rpc_method_handler(behavior)


def test_a_wrapped_handler_is_made_once_per_method_and_handler() -> None:
    made: list[str] = []

    def wrap(method: str, handler: Any) -> Any:
        made.append(method)
        return _unary(handler.unary_unary)

    handlers = WrappedHandlers(wrap)
    handler = _unary(lambda request, context: request)
    first = handlers.get(METHOD, handler)
    assert handlers.get(METHOD, handler) is first
    assert handlers.get(SERVICE_PREFIX + "Search", handler) is not first
    assert made == [METHOD, SERVICE_PREFIX + "Search"]


def test_past_the_limit_wrappers_are_made_per_call_and_still_work() -> None:
    handlers = WrappedHandlers(lambda method, handler: _unary(handler.unary_unary), limit=1)
    kept = _unary(lambda request, context: "kept")
    other = _unary(lambda request, context: "other")
    assert handlers.get(METHOD, kept) is handlers.get(METHOD, kept)
    once, twice = handlers.get(METHOD, other), handlers.get(METHOD, other)
    assert once is not twice
    assert once.unary_unary(None, None) == twice.unary_unary(None, None) == "other"


def _limited(limit: ConcurrencyLimit, handler: Any) -> Any:
    wrapped = limit.intercept_service(lambda details: handler, _Details(METHOD))
    assert wrapped is not None
    return wrapped


def test_the_limit_gives_back_its_slot_after_answers_errors_and_refusals() -> None:
    limit = ConcurrencyLimit(1)

    def fail(request: Any, context: Any) -> Any:
        raise ValueError("the handler failed")

    ok = _limited(limit, _unary(lambda request, context: "answer"))
    failing = _limited(limit, _unary(fail))
    assert ok.unary_unary(None, _Context()) == "answer"
    with pytest.raises(ValueError, match="the handler failed"):
        failing.unary_unary(None, _Context())
    assert ok.unary_unary(None, _Context()) == "answer"  # the slot came back both times

    def nested(request: Any, context: Any) -> Any:
        refused = _Context()
        with pytest.raises(_AbortedError, match="server busy"):
            ok.unary_unary(None, refused)  # the one slot is held by this call
        assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        return "outer"

    assert _limited(limit, _unary(nested)).unary_unary(None, _Context()) == "outer"
    assert ok.unary_unary(None, _Context()) == "answer"


def test_a_stream_refused_for_want_of_a_call_slot_gives_back_its_stream_slot() -> None:
    limit = ConcurrencyLimit(2)  # one stream slot, two call slots
    stream = _limited(limit, _stream(lambda requests, context: "streamed"))
    refusals: list[grpc.StatusCode | None] = []

    def innermost(request: Any, context: Any) -> Any:
        refused = _Context()  # both call slots are held: by this call and the outer one
        with pytest.raises(_AbortedError, match="calls in progress"):
            stream.stream_unary(iter(()), refused)
        refusals.append(refused.code)
        return "held"

    inner = _limited(limit, _unary(innermost))
    outer = _limited(limit, _unary(lambda request, context: inner.unary_unary(None, _Context())))
    assert outer.unary_unary(None, _Context()) == "held"
    assert refusals == [grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert stream.stream_unary(iter(()), _Context()) == "streamed"  # its stream slot is back


def test_a_response_stream_holds_its_slots_until_its_last_message() -> None:
    """An Export holds a stream slot and a call slot while its client takes messages, and
    gives both back when it ends or its client goes (the generator is closed)."""
    limit = ConcurrencyLimit(2)  # one stream slot, two call slots
    export = _limited(
        limit, grpc.unary_stream_rpc_method_handler(lambda request, context: iter("abc"))
    )
    first = export.unary_stream(None, _Context())
    assert next(first) == "a"  # holding its slots now
    refused = _Context()
    with pytest.raises(_AbortedError, match="request streams in progress"):
        next(export.unary_stream(None, refused))
    assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert list(first) == ["b", "c"]  # ended: its slots are back
    second = export.unary_stream(None, _Context())
    assert next(second) == "a"
    second.close()  # the caller went away
    assert list(export.unary_stream(None, _Context())) == ["a", "b", "c"]
