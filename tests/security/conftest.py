"""Servers with keys, TLS and limits, in this process, over the session's tiny BERT.

``REPORT`` (``support.security``) collects the tables the tests print (the access matrix, the
TLS outcomes, the load figures); they are shown at the end of the run under "simsearch security
report".

``start_server(**settings)`` builds a ``ServerConfig`` on 127.0.0.1 port 0 with ``settings``
(any ``ServerConfig`` field, ``limits=Limits(...)`` included) over the shared tiny encoder and a
fresh data directory, starts it through ``create_server`` exactly as ``simsearch serve`` does,
and stops it at the end of the test. ``KEYS`` holds a read and a write key, also written to a
keys file (``keys_file``); the names tests import are in ``support.security``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simsearch.config import ServerConfig
from simsearch.engine import Engine
from simsearch.index import FaissCatalog
from simsearch.server import RunningServer, create_server
from support.security import KEYS, REPORT, StartServer

from .certs import Pki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "api-keys"
    lines = ["# role:key, one a line", "", *(f"{role}:{key}" for role, key in KEYS.items())]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def start_server(tiny_encoder: Any, tmp_path: Path) -> Iterator[StartServer]:
    started: list[RunningServer] = []

    def start(**settings: Any) -> RunningServer:
        data_dir = tmp_path / f"data-{len(started)}"
        config = ServerConfig(**{"host": "127.0.0.1", "port": 0, "data_dir": data_dir, **settings})
        engine = Engine(tiny_encoder, FaissCatalog(data_dir), config.limits)
        running = create_server(config, engine)
        started.append(running)
        running.set_serving(True)
        return running

    yield start
    for running in started:
        running.stop(grace=0.5)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORT:
        return
    terminalreporter.section("simsearch security report")
    for title, lines in REPORT.items():
        terminalreporter.write_line(f"{title}:")
        for line in lines:
            terminalreporter.write_line(f"  {line}")
