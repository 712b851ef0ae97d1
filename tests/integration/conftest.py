"""A real server on 127.0.0.1 port 0 over the tiny BERT, and a raw gRPC stub to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from simsearch.server import RunningServer
from simsearch.v1 import simsearch_pb2_grpc
from support.in_process import serve_model


@pytest.fixture
def server(tiny_model_dir: Path, tmp_path: Path) -> Iterator[RunningServer]:
    running = serve_model(tiny_model_dir, tmp_path / "data")
    yield running
    running.stop(grace=1.0)


@pytest.fixture
def stub(server: RunningServer) -> Iterator[simsearch_pb2_grpc.SimSearchStub]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield simsearch_pb2_grpc.SimSearchStub(channel)
