"""Fixtures of the Milvus backend's tests: a milvus-lite file per test, one real Milvus 2.3
server per session (``support.milvus_server``), and catalogs on either.

Tests that take ``backend`` run on both: ``lite`` (a fresh file) and ``server`` (the shared
server; each test uses collection names of its own and drops them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pymilvus", reason="pymilvus (simsearch[milvus]) is not installed")

from simsearch.index.milvus import MilvusCatalog


@pytest.fixture
def lite_uri(tmp_path: Path) -> str:
    return str(tmp_path / "milvus.db")


@pytest.fixture(params=["lite", "server"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The uri of a milvus-lite file or of the session's Milvus server."""
    if request.param == "lite":
        return str(tmp_path / "milvus.db")
    return str(request.getfixturevalue("milvus_server_uri"))


@pytest.fixture
def catalog(backend: str) -> Iterator[MilvusCatalog]:
    """A catalog on ``backend``; collections it still has at the end are dropped."""
    opened = MilvusCatalog(backend, timeout=60)
    before = set(opened.names())
    yield opened
    for name in set(opened.names()) - before:
        opened.drop(name)
    opened.close()
