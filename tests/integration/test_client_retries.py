"""The client's retry policy against a real server: overload is retried, a permanent limit is
tried once (the server's ``grpc-retry-pushback-ms: -1``). Attempts are counted by the server's
own metrics (``simsearch_requests_total{method,code}``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from simsearch.client import Client
from simsearch.client.rpc import MAX_ATTEMPTS
from simsearch.errors import LimitExceededError, OverloadedError
from simsearch.server import RunningServer
from simsearch.types import Limits
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc
from support.in_process import serve_in_process

WAIT_S = 60.0  # bounds a hang only


def attempts(running: RunningServer, method: str) -> int:
    """Calls of ``method`` the server refused with RESOURCE_EXHAUSTED so far."""
    assert running.metrics is not None
    labels = {"method": method, "code": "RESOURCE_EXHAUSTED"}
    return int(running.metrics.registry.get_sample_value("simsearch_requests_total", labels) or 0)


@pytest.fixture
def busy(tiny_encoder: Any, tmp_path: Path) -> Iterator[RunningServer]:
    """A server allowing one call at a time, that one held by an open upsert stream."""
    running = serve_in_process(
        tiny_encoder, tmp_path / "data", limits=Limits(max_concurrent_rpcs=1)
    )
    release = threading.Event()

    def nothing_until_released() -> Iterator[pb.UpsertRequest]:
        release.wait(WAIT_S)
        return
        yield

    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stream = simsearch_pb2_grpc.SimSearchStub(channel).UpsertStream.future(
            nothing_until_released()
        )
        try:
            _wait_until_busy(running)
            yield running
        finally:
            release.set()
            stream.exception()  # the stream ended (its outcome does not matter here)
            running.stop(grace=0.5)


def _wait_until_busy(running: RunningServer) -> None:
    """Until a call is refused: the stream holds the slot."""
    deadline = time.monotonic() + WAIT_S
    with Client(f"127.0.0.1:{running.port}", retries=False) as probe:
        while time.monotonic() < deadline:
            try:
                probe.list_collections()
            except LimitExceededError:
                return
            time.sleep(0.01)
    raise AssertionError("the upsert stream never took the only slot")


def test_an_overloaded_server_is_tried_again(busy: RunningServer) -> None:
    before = attempts(busy, "Info")
    with (
        Client(f"127.0.0.1:{busy.port}") as client,
        pytest.raises(LimitExceededError, match="server busy"),
    ):
        client.info()
    assert attempts(busy, "Info") - before == MAX_ATTEMPTS


def test_retries_off_tries_once(busy: RunningServer) -> None:
    before = attempts(busy, "Info")
    with (
        Client(f"127.0.0.1:{busy.port}", retries=False) as client,
        pytest.raises(LimitExceededError, match="server busy"),
    ):
        client.info()
    assert attempts(busy, "Info") - before == 1


def test_an_upsert_stream_is_tried_once(busy: RunningServer) -> None:
    """Its error would say how many documents were committed: a replay would hide that."""
    before = attempts(busy, "UpsertStream")
    with (
        Client(f"127.0.0.1:{busy.port}") as client,
        pytest.raises(LimitExceededError, match="request streams in progress"),
    ):
        client.upsert_stream("docs", [{"id": "a", "text": "a text"}])
    assert attempts(busy, "UpsertStream") - before == 1


class _FullQueue:
    """The tiny encoder, except that every encode finds its queue full."""

    def __init__(self, encoder: Any) -> None:
        self._encoder = encoder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        raise OverloadedError("the encoder has 9 texts queued (max_queue_depth): retry later")


def test_a_full_encoder_queue_is_tried_again(tiny_encoder: Any, tmp_path: Path) -> None:
    running = serve_in_process(_FullQueue(tiny_encoder), tmp_path / "data")
    try:
        with (
            Client(f"127.0.0.1:{running.port}") as client,
            pytest.raises(LimitExceededError, match="max_queue_depth"),
        ):
            client.encode(["a text"])
        assert attempts(running, "Encode") == MAX_ATTEMPTS
    finally:
        running.stop(grace=0.5)


@pytest.fixture
def limited(tiny_encoder: Any, tmp_path: Path) -> Iterator[RunningServer]:
    limits = Limits(max_k=5, max_message_bytes=64 * 1024)
    running = serve_in_process(tiny_encoder, tmp_path / "data", limits=limits)
    yield running
    running.stop(grace=0.5)


def test_a_request_over_a_limit_is_tried_once(limited: RunningServer) -> None:
    with Client(f"127.0.0.1:{limited.port}") as client:
        client.create_collection("docs")
        with pytest.raises(LimitExceededError, match="at most 5"):
            client.search("docs", "a query", k=6)
    assert attempts(limited, "Search") == 1


def test_a_message_over_the_size_limit_is_tried_once(limited: RunningServer) -> None:
    # 100 KB: within a client's retry buffer (256 KiB), so only the server's trailer stops it.
    documents = [{"id": f"d{i}", "text": "word " * 2_000} for i in range(10)]
    with Client(f"127.0.0.1:{limited.port}") as client:
        client.create_collection("docs")
        with pytest.raises(LimitExceededError, match="over the server's limit of 65,536"):
            client.upsert("docs", documents, batch_size=10)
    assert attempts(limited, "Upsert") == 1


def test_a_client_whose_calls_keep_failing_stops_retrying(busy: RunningServer) -> None:
    before = attempts(busy, "Info")
    with Client(f"127.0.0.1:{busy.port}") as client:
        for _ in range(4):
            with pytest.raises(LimitExceededError):
                client.info()
    # 20 tokens, one per failed attempt, retries only above 10: 5 + 5 tries, then 1 each.
    assert attempts(busy, "Info") - before == 2 * MAX_ATTEMPTS + 2
