"""The concurrency limit: over ``max_concurrent_rpcs`` a call is refused at once, health stays up.

Calls are held open with UpsertStream requests whose stream waits on an event, so the server
holds exactly the slots the test means it to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from simsearch.client import Client
from simsearch.server import RunningServer
from simsearch.types import Limits
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc

from .conftest import StartServer

LIMIT = 2
SPARE = 2


def held_stream(release: threading.Event, doc_id: str) -> Iterator[pb.UpsertRequest]:
    yield pb.UpsertRequest(collection="docs", documents=[pb.Document(id=doc_id, text="hello")])
    release.wait(30)


def sample(server: RunningServer, name: str, **labels: str) -> float:
    assert server.metrics is not None
    return server.metrics.registry.get_sample_value(name, labels) or 0.0


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def limited(start_server: StartServer) -> RunningServer:
    server = start_server(limits=Limits(max_concurrent_rpcs=LIMIT), workers=SPARE)
    with Client(f"127.0.0.1:{server.port}") as client:
        client.create_collection("docs")
    return server


def test_over_the_limit_is_refused_at_once(limited: RunningServer) -> None:
    release = threading.Event()
    with grpc.insecure_channel(f"127.0.0.1:{limited.port}") as channel:
        stub = simsearch_pb2_grpc.SimSearchStub(channel)
        held = [
            stub.UpsertStream.future(held_stream(release, f"h{i}"), timeout=30)
            for i in range(LIMIT)
        ]
        wait_for(lambda: sample(limited, "simsearch_rpcs_in_flight") == LIMIT)
        start = time.perf_counter()
        with pytest.raises(grpc.RpcError) as caught:
            stub.Info(pb.InfoRequest(), timeout=10)
        refused_in = time.perf_counter() - start
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_concurrent_rpcs" in (caught.value.details() or "")
        assert refused_in < 0.5, f"refusal took {refused_in:.3f} s"
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        release.set()
        assert [future.result().upserted for future in held] == [1] * LIMIT
        assert stub.Info(pb.InfoRequest(), timeout=10).limits.max_concurrent_rpcs == LIMIT
    refused = sample(limited, "simsearch_requests_total", method="Info", code="RESOURCE_EXHAUSTED")
    assert refused == 1.0


def held_reflection(release: threading.Event) -> Iterator[reflection_pb2.ServerReflectionRequest]:
    yield reflection_pb2.ServerReflectionRequest(list_services="")
    release.wait(30)


def test_no_call_waits_for_a_thread(limited: RunningServer) -> None:
    """With the limit's slots and the spare threads all busy (reflection streams, which the
    limit does not count, hold one each), grpc's own backstop refuses at once instead of
    queueing the call behind them."""
    release = threading.Event()
    with grpc.insecure_channel(f"127.0.0.1:{limited.port}") as channel:
        stub = simsearch_pb2_grpc.SimSearchStub(channel)
        held = [
            stub.UpsertStream.future(held_stream(release, f"w{i}"), timeout=30)
            for i in range(LIMIT)
        ]
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        streams = [
            reflection.ServerReflectionInfo(held_reflection(release), timeout=30)
            for _ in range(SPARE)
        ]
        for stream in streams:
            next(stream)  # answered: the stream now holds a thread
        wait_for(lambda: sample(limited, "simsearch_rpcs_in_flight") == LIMIT)
        start = time.perf_counter()
        with pytest.raises(grpc.RpcError) as caught:
            stub.Info(pb.InfoRequest(), timeout=10)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "Concurrent RPC limit exceeded" in (caught.value.details() or "")  # grpc's own
        assert time.perf_counter() - start < 0.5
        release.set()
        assert [future.result().upserted for future in held] == [1] * LIMIT
        assert all(list(stream) == [] for stream in streams)


def test_info_reports_every_limit(start_server: StartServer) -> None:
    limits = Limits(
        max_batch=7, max_k=9, max_text_chars=99, max_message_bytes=1 << 20,
        max_rerank_depth=11, max_concurrent_rpcs=5, max_queue_depth=13,
    )  # fmt: skip
    server = start_server(limits=limits)
    with Client(f"127.0.0.1:{server.port}") as client:
        assert client.info().limits == limits
