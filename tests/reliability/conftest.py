"""Fixtures of the reliability tests: the zygote, server factories, a seed and the figures.

Figures (kills survived, ids checked, inputs tried per RPC ...) are recorded with ``figures`` (in
``support.figures.FIGURES``) and printed at the end of the run under "simsearch reliability
figures"; set ``SIMSEARCH_RELIABILITY_FIGURES=path.json`` to also write them as JSON. The seed of
the random tests is ``SIMSEARCH_RELIABILITY_SEED`` when set, else drawn and printed, so a failure
can be replayed.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.figures import FIGURES

from .servers import Server, StartServer, Zygote, start_forked


@pytest.fixture(scope="session")
def zygote() -> Iterator[Zygote]:
    forks = Zygote()
    yield forks
    forks.close()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The figures of the current test (a dict it fills), keyed by the test's name."""
    return FIGURES.setdefault(request.node.name, {})


@pytest.fixture
def seed(figures: dict[str, Any]) -> int:
    value = int(os.environ.get("SIMSEARCH_RELIABILITY_SEED") or random.randrange(2**32))
    figures["seed"] = value
    print(f"reliability seed: {value} (replay with SIMSEARCH_RELIABILITY_SEED={value})")
    return value


@pytest.fixture
def start_server(zygote: Zygote, tiny_model_dir: Path, tmp_path: Path) -> Iterator[StartServer]:
    """``start_server(data_dir, *flags, fsize=None, ready=True)``: a forked server on the tiny
    model; every server still running at the end of the test is killed."""
    started: list[Server] = []

    def start(data_dir: Path, *flags: str, fsize: int | None = None, ready: bool = True) -> Server:
        log = tmp_path / f"server-{len(started)}.log"
        server = start_forked(zygote, tiny_model_dir, data_dir, log, *flags, fsize=fsize)
        started.append(server)
        return server.wait_ready() if ready else server

    yield start
    for server in started:
        server.kill()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("simsearch reliability figures")
    for test, values in FIGURES.items():
        terminalreporter.write_line(f"{test}: {json.dumps(values, sort_keys=True)}")
    target = os.environ.get("SIMSEARCH_RELIABILITY_FIGURES")
    if target:
        Path(target).write_text(json.dumps(FIGURES, indent=2, sort_keys=True) + "\n")
