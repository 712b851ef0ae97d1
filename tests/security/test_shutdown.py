"""SIGTERM on a real server: NOT_SERVING at once, in-flight calls finish, checkpoint, exit 0.

An UpsertStream is held open (its request stream waits on an event) when SIGTERM arrives: the
health watch must turn NOT_SERVING while the call is still running, new calls must be refused,
the held call must then complete and be acknowledged, and the process must write the index
snapshot and exit 0 within the grace period.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
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

from .process import ServerProcess
from .test_metrics import scrape

GRACE = 20.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def chunks(release: threading.Event) -> Iterator[pb.UpsertRequest]:
    yield pb.UpsertRequest(collection="docs", documents=[pb.Document(id="a", text="first")])
    release.wait(60)
    yield pb.UpsertRequest(collection="docs", documents=[pb.Document(id="b", text="second")])


def in_flight(server: ServerProcess) -> float:
    return scrape(f"http://127.0.0.1:{server.metrics_port}/metrics")[
        ("simsearch_rpcs_in_flight", "")
    ]


def refuses_new_calls(address: str, within: float = 15.0) -> list[str]:
    """What calls on new connections got until one failed with UNAVAILABLE (the health status
    turns a moment before grpc stops taking calls); ends with "UNAVAILABLE" if one did."""
    seen: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and seen[-1:] != ["UNAVAILABLE"]:
        with grpc.insecure_channel(address) as fresh:
            try:
                simsearch_pb2_grpc.SimSearchStub(fresh).Info(pb.InfoRequest(), timeout=5)
                seen.append("OK")
            except grpc.RpcError as error:
                seen.append(error.code().name)
        time.sleep(0.02)
    return seen


@pytest.fixture
def server(tiny_model_dir: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tiny_model_dir, tmp_path / "data", tmp_path / "server.log",
        "--shutdown-grace", str(GRACE),
    )  # fmt: skip
    yield process.wait_ready()
    process.kill()


def test_sigterm_drains_checkpoints_and_exits_zero(server: ServerProcess, tmp_path: Path) -> None:
    release = threading.Event()
    with grpc.insecure_channel(server.address) as channel:
        stub = simsearch_pb2_grpc.SimSearchStub(channel)
        stub.CreateCollection(pb.CreateCollectionRequest(name="docs"), timeout=30)
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(), timeout=90
        )
        assert next(watch).status == SERVING
        held = stub.UpsertStream.future(chunks(release), timeout=60)
        deadline = time.monotonic() + 10
        while in_flight(server) < 1:
            assert time.monotonic() < deadline, "the held call never started"
            time.sleep(0.02)

        server.terminate()
        assert next(watch).status == NOT_SERVING  # while the held call still runs
        assert not held.done()
        assert refuses_new_calls(server.address)[-1:] == ["UNAVAILABLE"]
        watch.cancel()  # a watcher would otherwise hold the drain for the whole grace

        release.set()
        assert held.result().upserted == 2  # acknowledged during the drain
    started = time.monotonic()
    assert server.wait(timeout=GRACE + 30) == 0, server.log()
    assert time.monotonic() - started < GRACE, "the drain waited for the grace to run out"
    data = tmp_path / "data" / "docs"
    assert (data / "index.faiss").is_file(), "no checkpoint written at shutdown"
    store = sqlite3.connect(f"file:{data / 'store.sqlite3'}?mode=ro", uri=True)
    assert sorted(row[0] for row in store.execute("SELECT id FROM docs")) == ["a", "b"]
    store.close()
    log = server.log()
    assert "received SIGTERM: draining and stopping" in log and "stopped" in log
    assert "Traceback" not in log


def health_status(port: int) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        return int(health.Check(health_pb2.HealthCheckRequest(), timeout=10).status)


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
            deadline = time.monotonic() + 10
            while health_status(running.port) != SERVING:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        handlers[signal.SIGTERM](signal.SIGTERM, None)
        thread.join(timeout=30)
        assert not thread.is_alive(), "serve() did not return after SIGTERM"
    finally:
        running.stop(grace=0.5)
