"""``Client.wait_until_serving``: the health service's Watch stream against a real server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simsearch.client import Client
from simsearch.errors import DeadlineExceededError
from simsearch.server import RunningServer
from support.in_process import serve_in_process
from support.ports import free_port

LONG_S = 60.0  # only bounds a hang: each wait below ends as soon as the server says SERVING


@pytest.fixture
def starting(tiny_encoder: Any, tmp_path: Path) -> Iterator[RunningServer]:
    """A server that is up but not serving yet, as while its collections open."""
    running = serve_in_process(tiny_encoder, tmp_path / "data", serving=False)
    yield running
    running.stop(grace=0.5)


def test_returns_once_the_server_is_serving(starting: RunningServer) -> None:
    starting.set_serving(True)
    with Client(f"127.0.0.1:{starting.port}") as client:
        client.wait_until_serving(LONG_S)
        assert client.list_collections() == []


def test_waits_for_the_server_to_turn_serving(starting: RunningServer) -> None:
    turned = threading.Event()

    def turn() -> None:
        turned.set()
        starting.set_serving(True)

    with Client(f"127.0.0.1:{starting.port}") as client:
        timer = threading.Timer(0.2, turn)
        timer.start()
        try:
            client.wait_until_serving(LONG_S)
        finally:
            timer.join()
        assert turned.is_set()  # it returned because of the change, not before


def test_a_server_that_stays_not_serving_times_out_saying_so(starting: RunningServer) -> None:
    with (
        Client(f"127.0.0.1:{starting.port}") as client,
        pytest.raises(DeadlineExceededError, match=r"not serving after 2 s .*NOT_SERVING"),
    ):
        client.wait_until_serving(2.0)


def test_no_server_at_the_address_times_out() -> None:
    address = f"127.0.0.1:{free_port()}"
    with (
        Client(address) as client,
        pytest.raises(DeadlineExceededError, match=f"server at {address} was not serving"),
    ):
        client.wait_until_serving(0.5)


def test_check_ends_the_wait_with_its_error(starting: RunningServer) -> None:
    def process_died() -> None:
        raise RuntimeError("the server process exited")

    with (
        Client(f"127.0.0.1:{starting.port}") as client,
        pytest.raises(RuntimeError, match="exited"),
    ):
        client.wait_until_serving(LONG_S, check=process_died)
