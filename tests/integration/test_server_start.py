"""Starting a server: a port in use is one clear line before the model loads, and reflection
resolves every symbol grpcurl asks for (methods included)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from simsearch.config import ServerConfig
from simsearch.server import RunningServer
from simsearch.server.app import bind_server
from support.in_process import serve_in_process

PROTO_FILE = "simsearch/v1/simsearch.proto"


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process is listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_a_port_in_use_is_one_line_saying_what_to_change(
    taken_port: int, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    config = ServerConfig(host="127.0.0.1", port=taken_port, data_dir=tmp_path)
    with pytest.raises(OSError) as raised:
        bind_server(config)
    assert str(raised.value) == f"port {taken_port} is in use: pick another --port"
    assert "GRPC_VERBOSITY" not in capfd.readouterr().err  # no C-core line either


def test_an_unknown_host_says_so(tmp_path: Path) -> None:
    config = ServerConfig(host="no-such-host.invalid", port=50051, data_dir=tmp_path)
    with pytest.raises(OSError, match=r"cannot listen on .no-such-host\.invalid.*--host"):
        bind_server(config)


def test_serve_reports_a_port_in_use_before_loading_the_model(
    taken_port: int, tmp_path: Path
) -> None:
    # The model does not exist: a serve command that loaded it first would complain about it.
    command = [sys.executable, "-m", "simsearch", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(taken_port), "--data-dir", str(tmp_path / "data")]
    command += ["--model", str(tmp_path / "no-model")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"port {taken_port} is in use: pick another --port" in done.stderr
    assert "no-model" not in done.stderr and "GRPC_VERBOSITY" not in done.stderr


@pytest.fixture
def server(tiny_encoder: Any, tmp_path: Path) -> Iterator[RunningServer]:
    running = serve_in_process(tiny_encoder, tmp_path / "data")
    yield running
    running.stop(grace=0.5)


@pytest.fixture
def reflected(server: RunningServer) -> Iterator[ProtoReflectionDescriptorDatabase]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield ProtoReflectionDescriptorDatabase(channel)


@pytest.mark.parametrize(
    "symbol",
    [
        "simsearch.v1.SimSearch",
        "simsearch.v1.SimSearch.Search",  # grpcurl describe simsearch.v1.SimSearch.Search
        "simsearch.v1.SimSearch.UpsertStream",
        "simsearch.v1.SearchRequest",
    ],
)
def test_reflection_finds_the_file_of_every_symbol(
    reflected: ProtoReflectionDescriptorDatabase, symbol: str
) -> None:
    assert reflected.FindFileContainingSymbol(symbol).name == PROTO_FILE


def test_reflection_describes_a_method_as_grpcurl_does(
    reflected: ProtoReflectionDescriptorDatabase,
) -> None:
    method = descriptor_pool.DescriptorPool(reflected).FindMethodByName(
        "simsearch.v1.SimSearch.Search"
    )
    assert (method.input_type.full_name, method.output_type.full_name) == (
        "simsearch.v1.SearchRequest",
        "simsearch.v1.SearchResponse",
    )


def test_reflection_still_says_not_found_for_an_unknown_method(
    reflected: ProtoReflectionDescriptorDatabase,
) -> None:
    with pytest.raises(KeyError):
        reflected.FindFileContainingSymbol("simsearch.v1.SimSearch.NoSuchMethod")
