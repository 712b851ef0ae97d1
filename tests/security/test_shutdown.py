"""SIGTERM on a real server: NOT_SERVING at once, streams end with their committed count,
in-flight calls finish, checkpoint, exit 0.

An UpsertStream open across the SIGTERM stops taking chunks at once and ends UNAVAILABLE with
the number of documents it committed (a prefix of what it sent, exactly that many after a
restart); the health watch turns NOT_SERVING, new calls are refused, and the process writes
the index snapshot and exits 0. Unary calls in flight are drained (``RunningServer.stop``).

Nothing here is timed: the grace is far longer than the bounds the test waits with, so a
drain that waited for the grace to run out fails the test instead of slowing it down.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from simsearch.config import ServerConfig
from simsearch.engine import Engine
from simsearch.index import FaissCatalog
from simsearch.server import create_server, serve
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc

from .gated import GatedEncoder
from .process import ServerProcess

GRACE = 600.0  # never reached: a drain that waited for it would outlast EXIT_WITHIN
EXIT_WITHIN = 180.0  # bounds a hang only; the exit takes seconds (tens on a loaded machine)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
COMMITTED = re.compile(r"\((\d+) documents were committed before\)")


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll until ``condition`` holds; the limit only bounds a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def held_chunks(release: threading.Event) -> Iterator[pb.UpsertRequest]:
    yield pb.UpsertRequest(collection="docs", documents=[pb.Document(id="a", text="first")])
    release.wait(120)
    yield pb.UpsertRequest(collection="docs", documents=[pb.Document(id="b", text="second")])


def count(stub: simsearch_pb2_grpc.SimSearchStub, name: str) -> int:
    request = pb.DescribeCollectionRequest(name=name)
    return stub.DescribeCollection(request, timeout=30).collection.count


def refuses_new_calls(address: str, within: float = 60.0) -> list[str]:
    """What calls on new connections got until one failed with UNAVAILABLE (the health status
    turns a moment before grpc stops taking calls); ends with "UNAVAILABLE" if one did."""
    seen: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and seen[-1:] != ["UNAVAILABLE"]:
        with grpc.insecure_channel(address) as fresh:
            try:
                simsearch_pb2_grpc.SimSearchStub(fresh).Info(pb.InfoRequest(), timeout=10)
                seen.append("OK")
            except grpc.RpcError as error:
                seen.append(error.code().name)
        time.sleep(0.02)
    return seen


def stored_ids(data_dir: Path, collection: str) -> list[str]:
    store = sqlite3.connect(f"file:{data_dir / collection / 'store.sqlite3'}?mode=ro", uri=True)
    try:
        return sorted(row[0] for row in store.execute("SELECT id FROM docs"))
    finally:
        store.close()


def stopped_cleanly(server: ServerProcess) -> None:
    assert server.wait(timeout=EXIT_WITHIN) == 0, server.log()
    log = server.log()
    assert "received SIGTERM: draining and stopping" in log and "stopped" in log
    assert "Traceback" not in log


@pytest.fixture
def start(tiny_model_dir: Path, tmp_path: Path) -> Iterator[Callable[[str], ServerProcess]]:
    """Start ``simsearch serve`` on the test's data directory (log: ``tmp_path / log``)."""
    started: list[ServerProcess] = []

    def start_one(log: str) -> ServerProcess:
        flags = ("--shutdown-grace", str(GRACE))
        process = ServerProcess(tiny_model_dir, tmp_path / "data", tmp_path / log, *flags)
        started.append(process)
        return process.wait_ready()

    yield start_one
    for process in started:
        process.kill()


def test_sigterm_ends_streams_checkpoints_and_exits_zero(
    start: Callable[[str], ServerProcess], tmp_path: Path
) -> None:
    server = start("server.log")
    release = threading.Event()
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = simsearch_pb2_grpc.SimSearchStub(channel)
            stub.CreateCollection(pb.CreateCollectionRequest(name="docs"), timeout=30)
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(), timeout=EXIT_WITHIN
            )
            assert next(watch).status == SERVING
            held = stub.UpsertStream.future(held_chunks(release), timeout=EXIT_WITHIN)
            wait_for(lambda: count(stub, "docs") == 1)  # "a" is committed, "b" not yet sent

            server.terminate()
            assert next(watch).status == NOT_SERVING
            error = held.exception(timeout=EXIT_WITHIN)
            assert isinstance(error, grpc.Call), error
            assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
            assert error.details().startswith("server shutting down")
            assert "(1 documents were committed before)" in error.details()
            assert refuses_new_calls(server.address)[-1:] == ["UNAVAILABLE"]
            watch.cancel()  # a watcher would otherwise hold the drain for the whole grace
    finally:
        release.set()
    stopped_cleanly(server)
    assert (tmp_path / "data" / "docs" / "index.faiss").is_file(), "no checkpoint at shutdown"
    assert stored_ids(tmp_path / "data", "docs") == ["a"]


def endless_chunks(size: int = 8) -> Iterator[pb.UpsertRequest]:
    """Chunks of ``size`` documents d000000, d000001, ... for as long as the call reads them."""
    for first in range(0, 10_000_000, size):
        ids = range(first, first + size)
        yield pb.UpsertRequest(
            collection="bulk",
            documents=[pb.Document(id=f"d{i:06d}", text=f"text {i}") for i in ids],
        )


def test_sigterm_mid_stream_reports_the_committed_prefix(
    start: Callable[[str], ServerProcess], tmp_path: Path
) -> None:
    """A stream still sending at SIGTERM ends UNAVAILABLE with its committed count; after a
    restart the collection holds exactly that many documents, the first ones sent."""
    server = start("server.log")
    with grpc.insecure_channel(server.address) as channel:
        stub = simsearch_pb2_grpc.SimSearchStub(channel)
        stub.CreateCollection(pb.CreateCollectionRequest(name="bulk"), timeout=30)
        stream = stub.UpsertStream.future(endless_chunks(), timeout=EXIT_WITHIN)
        wait_for(lambda: count(stub, "bulk") >= 24)  # some chunks committed, more coming
        server.terminate()
        error = stream.exception(timeout=EXIT_WITHIN)
    assert isinstance(error, grpc.Call), error
    assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
    assert error.details().startswith("server shutting down")
    committed = COMMITTED.search(error.details())
    assert committed is not None, error.details()
    total = int(committed.group(1))
    assert total >= 24 and total % 8 == 0  # whole chunks
    stopped_cleanly(server)

    again = start("restart.log")
    with grpc.insecure_channel(again.address) as channel:
        stub = simsearch_pb2_grpc.SimSearchStub(channel)
        assert count(stub, "bulk") == total
    again.kill()
    assert stored_ids(tmp_path / "data", "bulk") == [f"d{i:06d}" for i in range(total)]


def health_status(port: int) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        return int(health.Check(health_pb2.HealthCheckRequest(), timeout=10).status)


def test_stop_lets_unary_calls_in_flight_finish(tiny_encoder: Any, tmp_path: Path) -> None:
    gate = threading.Event()
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)
    engine = Engine(GatedEncoder(tiny_encoder, gate), FaissCatalog(tmp_path), config.limits)
    running = create_server(config, engine)
    running.set_serving(True)
    stopper = threading.Thread(target=running.stop, kwargs={"grace": GRACE}, daemon=True)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = simsearch_pb2_grpc.SimSearchStub(channel)
            held = stub.Encode.future(pb.EncodeRequest(texts=["in flight"]), timeout=EXIT_WITHIN)
            assert running.metrics is not None
            in_flight = running.metrics.registry.get_sample_value
            wait_for(lambda: in_flight("simsearch_rpcs_in_flight", {}) == 1)
            stopper.start()
            address = f"127.0.0.1:{running.port}"
            assert refuses_new_calls(address)[-1:] == ["UNAVAILABLE"]
            assert not held.done() and stopper.is_alive()  # the drain waits for it
            gate.set()
            assert held.result().embeddings.shape == [1, 32]
        stopper.join(EXIT_WITHIN)
        assert not stopper.is_alive(), "stop() did not return once the call finished"
    finally:
        gate.set()
        if not stopper.is_alive():
            running.stop(grace=0.5)


def test_not_serving_until_serve_then_serve_returns_on_sigterm(
    tiny_encoder: Any, tmp_path: Path
) -> None:
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)
    running = create_server(config, Engine(tiny_encoder, FaissCatalog(tmp_path), config.limits))
    handlers: dict[int, Any] = {}
    try:
        assert health_status(running.port) == NOT_SERVING  # bound, but serve() not called yet
        with pytest.MonkeyPatch.context() as patch:  # keep serve() off this process's signals
            patch.setattr(
                "signal.signal", lambda signum, handler: handlers.update({signum: handler})
            )
            thread = threading.Thread(target=serve, args=(running,), daemon=True)
            thread.start()
            wait_for(lambda: health_status(running.port) == SERVING)
        handlers[signal.SIGTERM](signal.SIGTERM, None)
        thread.join(timeout=60)
        assert not thread.is_alive(), "serve() did not return after SIGTERM"
    finally:
        running.stop(grace=0.5)
