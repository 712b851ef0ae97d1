"""A real server on 127.0.0.1 port 0 over the tiny BERT, and a raw gRPC stub to it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from simsearch.config import ServerConfig
from simsearch.server import RunningServer, build_engine, create_server
from simsearch.v1 import simsearch_pb2_grpc


def start_server(model_dir: Path, data_dir: Path) -> RunningServer:
    cache = os.environ.get("SIMSEARCH_MODEL_CACHE_DIR")  # tests/conftest.py: one per session
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        model=str(model_dir),
        data_dir=data_dir,
        model_cache_dir=Path(cache) if cache else None,
    )
    running = create_server(config, build_engine(config))
    running.set_serving(True)
    return running


@pytest.fixture
def server(tiny_model_dir: Path, tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(tiny_model_dir, tmp_path / "data")
    yield running
    running.stop(grace=1.0)


@pytest.fixture
def stub(server: RunningServer) -> Iterator[simsearch_pb2_grpc.SimSearchStub]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield simsearch_pb2_grpc.SimSearchStub(channel)
