"""A Milvus that stops answering: every call is UnavailableError with a message, never a
pymilvus exception (which the server would report as INTERNAL)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scaleout.milvus.helpers import make_spec
from simsearch.errors import UnavailableError
from simsearch.index.milvus import MilvusCatalog
from simsearch.types import Document
from support.milvus_server import start_milvus


def test_a_stopped_server_makes_every_call_unavailable(tmp_path: Path) -> None:
    server = start_milvus(tmp_path / "milvus", time_tick_ms=50, fast_load=True)
    try:
        catalog = MilvusCatalog(server.uri, timeout=3)
        collection = catalog.create(make_spec("docs"))
        vector = np.eye(1, 8, dtype=np.float32)
        collection.upsert([Document("a", "text")], vector)
        assert collection.count() == 1
    finally:
        server.stop()
    calls = {
        "names": catalog.names,
        "open": lambda: catalog.open("docs"),
        "create": lambda: catalog.create(make_spec("other")),
        "drop": lambda: catalog.drop("docs"),
        "count": collection.count,
        "upsert": lambda: collection.upsert([Document("b", "text")], vector),
        "get": lambda: collection.get(["a"]),
        "delete": lambda: collection.delete(["a"]),
        "search": lambda: collection.search(vector, 1),
        "filtered search": lambda: collection.search(vector, 1, {"k": None}),
    }
    wrong = {}
    for call, run in calls.items():
        try:
            run()
            wrong[call] = "no error"
        except UnavailableError as exc:
            if "Milvus could not" not in str(exc):
                wrong[call] = f"message: {exc}"
        except Exception as exc:
            wrong[call] = repr(exc)
    assert not wrong
    assert catalog.unavailable("docs") is None  # unreachable, not a broken collection
    catalog.close()


def test_an_unreachable_uri_is_unavailable_at_start(tmp_path: Path) -> None:
    with pytest.raises(UnavailableError, match=r"could not be reached at http://127\.0\.0\.1:9 "):
        MilvusCatalog("http://127.0.0.1:9", timeout=2)
