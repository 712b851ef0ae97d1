"""``rpc_decorators.rpc_stream``: a streaming RPC's errors become statuses wherever they
happen, and a caller that has gone stops the stream before the next message is made."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from simsearch.callers import caller_gone
from simsearch.errors import DataLossError, NotFoundError
from simsearch.server.rpc_decorators import rpc_stream


class _AbortedError(Exception):
    pass


class _Context:
    """What the handler wrapper asks of grpc's context."""

    def __init__(self) -> None:
        self.active = True
        self.remaining: float | None = None
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def is_active(self) -> bool:
        return self.active

    def time_remaining(self) -> float | None:
        return self.remaining

    def set_trailing_metadata(self, metadata: object) -> None:
        pass

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details
        raise _AbortedError(details)


class _Servicer:
    def __init__(self, fail_at: int | None = None, error: Exception | None = None) -> None:
        self.made: list[int] = []
        self.gone_seen: list[bool] = []
        self._fail_at = fail_at
        self._error = error

    @rpc_stream
    def Export(self, request: int, context: grpc.ServicerContext) -> Iterator[int]:  # noqa: N802
        if self._fail_at == -1 and self._error is not None:
            raise self._error  # before any message: the request is refused

        def messages() -> Iterator[int]:
            for i in range(request):
                if i == self._fail_at and self._error is not None:
                    raise self._error
                check = caller_gone.get()
                self.gone_seen.append(check is not None and check())
                self.made.append(i)
                yield i

        return messages()


def _run(servicer: _Servicer, request: int, context: _Context) -> list[int]:
    return list(servicer.Export(request, context))  # type: ignore[arg-type]


def test_messages_stream_and_the_caller_check_is_set_while_each_is_made() -> None:
    servicer = _Servicer()
    assert _run(servicer, 3, _Context()) == [0, 1, 2]
    assert servicer.gone_seen == [False, False, False]


@pytest.mark.parametrize("fail_at", [-1, 0, 2])
def test_an_error_anywhere_becomes_its_status(fail_at: int) -> None:
    servicer = _Servicer(fail_at, DataLossError("document 'x' is damaged"))
    context = _Context()
    received: list[int] = []
    with pytest.raises(_AbortedError):
        received.extend(servicer.Export(5, context))  # type: ignore[arg-type]
    assert context.code == grpc.StatusCode.DATA_LOSS
    assert context.details == "document 'x' is damaged"
    assert received == list(range(max(fail_at, 0)))


def test_a_bug_is_internal_with_an_incident_id(caplog: pytest.LogCaptureFixture) -> None:
    context = _Context()
    with pytest.raises(_AbortedError):
        _run(_Servicer(1, KeyError("boom")), 3, context)
    assert context.code == grpc.StatusCode.INTERNAL and "incident" in context.details
    assert "internal error in Export" in caplog.text and "boom" not in context.details


def test_a_caller_that_has_gone_stops_the_stream_before_the_next_message() -> None:
    servicer = _Servicer()
    context = _Context()
    stream = servicer.Export(100, context)  # type: ignore[arg-type]
    assert next(stream) == 0
    context.active = False  # cancelled
    assert list(stream) == []
    assert servicer.made == [0]


def test_a_deadline_that_passed_stops_the_stream() -> None:
    servicer = _Servicer()
    context = _Context()
    stream = servicer.Export(100, context)  # type: ignore[arg-type]
    assert next(stream) == 0
    context.remaining = 0.0
    assert list(stream) == []
    assert servicer.made == [0]


def test_a_request_past_its_deadline_is_refused_before_any_work() -> None:
    servicer = _Servicer(-1, NotFoundError("never raised: the deadline is checked first"))
    context = _Context()
    context.remaining = -1.0
    with pytest.raises(_AbortedError):
        _run(servicer, 3, context)
    assert context.code == grpc.StatusCode.DEADLINE_EXCEEDED
