"""The concurrency limit: over ``max_concurrent_rpcs`` a call is refused at once, health stays up;
request streams hold at most half the slots, and a silent one is ended.

Unary calls are held open by an encoder that waits on an event (``GatedEncoder``), streams by
UpsertStream requests whose stream waits on an event, so the server holds exactly the slots the
test means it to. Nothing is timed: a call that was queued instead of refused would still be
waiting when the holders are released.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from simsearch.client import Client
from simsearch.config import ServerConfig
from simsearch.engine import Engine
from simsearch.index import FaissCatalog
from simsearch.server import RunningServer, create_server
from simsearch.server.limits import stream_slots
from simsearch.types import Limits
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc
from support.security import StartServer

from .gated import GatedEncoder

LIMIT = 4
STREAMS = stream_slots(LIMIT)  # 2
SPARE = 2


def chunk(doc_id: str) -> pb.UpsertRequest:
    return pb.UpsertRequest(collection="docs", documents=[pb.Document(id=doc_id, text="hello")])


def held_stream(release: threading.Event, doc_id: str) -> Iterator[pb.UpsertRequest]:
    yield chunk(doc_id)
    release.wait(60)


def silent_stream(release: threading.Event) -> Iterator[pb.UpsertRequest]:
    release.wait(60)
    yield from ()


def sample(server: RunningServer, name: str, **labels: str) -> float:
    assert server.metrics is not None
    return server.metrics.registry.get_sample_value(name, labels) or 0.0


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll until ``condition`` holds; the limit only bounds a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def start_gated(
    tiny_encoder: Any, tmp_path: Path, gate: threading.Event
) -> Iterator[Callable[..., RunningServer]]:
    """``start_server`` over a ``GatedEncoder``; a collection "docs" exists.

    grpc counts a call against its backstop until the server has finished sending its status,
    a moment after the client has the answer: so no call is made before a test fills the
    slots, and the backstop has room for exactly the calls the test holds."""
    started: list[RunningServer] = []

    def start(**settings: Any) -> RunningServer:
        data_dir = tmp_path / f"data-{len(started)}"
        config = ServerConfig(host="127.0.0.1", port=0, data_dir=data_dir, **settings)
        encoder = GatedEncoder(tiny_encoder, gate)
        running = create_server(config, Engine(encoder, FaissCatalog(data_dir), config.limits))
        started.append(running)
        running.set_serving(True)
        running.engine.create_collection("docs")  # not a call: none may still be finishing
        return running

    yield start
    gate.set()
    for running in started:
        running.stop(grace=0.5)


@pytest.fixture
def limited(start_gated: Callable[..., RunningServer]) -> RunningServer:
    return start_gated(limits=Limits(max_concurrent_rpcs=LIMIT), workers=SPARE)


def hold_encodes(stub: simsearch_pb2_grpc.SimSearchStub, count: int) -> list[Any]:
    request = pb.EncodeRequest(texts=["held"])
    return [stub.Encode.future(request, timeout=60) for _ in range(count)]


def test_over_the_limit_is_refused_at_once(limited: RunningServer, gate: threading.Event) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{limited.port}") as channel:
        stub = simsearch_pb2_grpc.SimSearchStub(channel)
        held = hold_encodes(stub, LIMIT)
        wait_for(lambda: sample(limited, "simsearch_rpcs_in_flight") == LIMIT)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Info(pb.InfoRequest(), timeout=30)  # queued, it would wait out its deadline
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_concurrent_rpcs" in (caught.value.details() or "")
        assert not any(future.done() for future in held)  # refused while the slots were held
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        gate.set()
        assert all(future.result().embeddings.shape == [1, 32] for future in held)
        assert stub.Info(pb.InfoRequest(), timeout=10).limits.max_concurrent_rpcs == LIMIT
    refused = sample(limited, "simsearch_requests_total", method="Info", code="RESOURCE_EXHAUSTED")
    assert refused == 1.0


def held_reflection(release: threading.Event) -> Iterator[reflection_pb2.ServerReflectionRequest]:
    yield reflection_pb2.ServerReflectionRequest(list_services="")
    release.wait(30)


def test_no_call_waits_for_a_thread(limited: RunningServer, gate: threading.Event) -> None:
    """With the limit's slots and the spare threads all busy (reflection streams, which the
    limit does not count, hold one each), grpc's own backstop refuses at once instead of
    queueing the call behind them."""
    release = threading.Event()
    with grpc.insecure_channel(f"127.0.0.1:{limited.port}") as channel:
        stub = simsearch_pb2_grpc.SimSearchStub(channel)
        held = hold_encodes(stub, LIMIT)
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        streams = [
            reflection.ServerReflectionInfo(held_reflection(release), timeout=30)
            for _ in range(SPARE)
        ]
        for stream in streams:
            next(stream)  # answered: the stream now holds a thread
        wait_for(lambda: sample(limited, "simsearch_rpcs_in_flight") == LIMIT)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Info(pb.InfoRequest(), timeout=30)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "Concurrent RPC limit exceeded" in (caught.value.details() or "")  # grpc's own
        assert not any(future.done() for future in held)
        release.set()
        gate.set()
        assert all(future.result().embeddings.shape == [1, 32] for future in held)
        assert all(list(stream) == [] for stream in streams)


def test_streams_hold_at_most_half_the_slots(limited: RunningServer, gate: threading.Event) -> None:
    """Streams that stay open take at most ``stream_slots`` slots; one more stream is refused,
    and the other slots stay free for unary calls."""
    release = threading.Event()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{limited.port}") as channel:
            stub = simsearch_pb2_grpc.SimSearchStub(channel)
            held = [
                stub.UpsertStream.future(held_stream(release, f"h{i}"), timeout=60)
                for i in range(STREAMS)
            ]
            wait_for(lambda: sample(limited, "simsearch_rpcs_in_flight") == STREAMS)
            with pytest.raises(grpc.RpcError) as caught:
                stub.UpsertStream(held_stream(release, "over"), timeout=30)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "request streams in progress" in (caught.value.details() or "")
            assert stub.Info(pb.InfoRequest(), timeout=30).limits.max_concurrent_rpcs == LIMIT
            encodes = hold_encodes(stub, LIMIT - STREAMS)  # unary calls fill the other slots
            wait_for(lambda: sample(limited, "simsearch_rpcs_in_flight") == LIMIT)
            release.set()
            gate.set()
            assert [future.result().upserted for future in held] == [1] * STREAMS
            assert all(future.result().embeddings.shape == [1, 32] for future in encodes)
    finally:
        release.set()


def test_silent_streams_end_and_free_their_slots(
    start_gated: Callable[..., RunningServer], gate: threading.Event
) -> None:
    """A stream silent for ``stream_idle_timeout_s`` ends with DEADLINE_EXCEEDED and the count
    of documents it committed; its slot and its reader thread are freed."""
    gate.set()  # chunks are embedded as they come
    limits = Limits(max_concurrent_rpcs=LIMIT, stream_idle_timeout_s=1.0)
    server = start_gated(limits=limits, workers=SPARE)
    release = threading.Event()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = simsearch_pb2_grpc.SimSearchStub(channel)
            for round_ in range(2):  # the second round needs the slots the first one held
                after_a_chunk = stub.UpsertStream.future(
                    held_stream(release, f"a{round_}"), timeout=60
                )
                from_the_start = stub.UpsertStream.future(silent_stream(release), timeout=60)
                for future, committed in ((after_a_chunk, 1), (from_the_start, 0)):
                    error = future.exception(timeout=60)
                    assert isinstance(error, grpc.Call), error
                    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error.details()
                    assert "sent nothing for 1 s (stream_idle_timeout_s)" in error.details()
                    assert f"({committed} documents were committed before)" in error.details()
                wait_for(lambda: sample(server, "simsearch_rpcs_in_flight") == 0)
            documents = stub.Get(pb.GetRequest(collection="docs", ids=["a0", "a1"]), timeout=30)
            assert [doc.id for doc in documents.documents] == ["a0", "a1"]
        wait_for(lambda: "stream-reader" not in {t.name for t in threading.enumerate()})
    finally:
        release.set()


def test_info_reports_every_limit(start_server: StartServer) -> None:
    limits = Limits(
        max_batch=7, max_k=9, max_text_chars=99, max_message_bytes=1 << 20,
        max_rerank_depth=11, max_concurrent_rpcs=5, max_queue_depth=13,
        stream_idle_timeout_s=2.5, max_filter_keys=3,
    )  # fmt: skip
    server = start_server(limits=limits)
    with Client(f"127.0.0.1:{server.port}") as client:
        assert client.info().limits == limits


def test_an_infinite_idle_timeout_means_none(start_server: StartServer) -> None:
    server = start_server(limits=Limits(stream_idle_timeout_s=float("inf")))
    with Client(f"127.0.0.1:{server.port}") as client:
        client.create_collection("docs")
        assert client.upsert_stream("docs", [{"id": "a", "text": "hello"}]).upserted == 1
