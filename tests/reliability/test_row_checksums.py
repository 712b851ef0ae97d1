"""A stored row that rots is detected and never served (per-row checksums, ``index/checksums``).

SQLite pages carry no checksums: one flipped bit inside a stored text passes ``PRAGMA
quick_check`` and used to be served as it was. Each row now carries CRC-32s of what it serves.
A real server started on a store with one damaged row must start, serve every other document,
answer DATA_LOSS naming the collection and the id to any request that would serve the damaged
row (Get, a search that finds it, its stored embedding), log it without a traceback, and serve
the document again once it is upserted anew.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simsearch.client import Client
from simsearch.errors import DataLossError

from .checks import sample_documents
from .servers import StartServer, Zygote, start_forked

DAMAGED = "d5"  # its text is "music chair 5", its metadata {"i":5}
DETECTED = r"collection 'docs': document 'd5' is damaged in the store"


@pytest.fixture(scope="module")
def pristine(
    zygote: Zygote, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A data directory with one flat collection of 40 documents, stopped cleanly (no WAL)."""
    root = tmp_path_factory.mktemp("checksums")
    server = start_forked(zygote, tiny_model_dir, root / "data", root / "server.log").wait_ready()
    with Client(server.address) as client:
        client.create_collection("docs", index="flat")
        client.upsert("docs", sample_documents(0, 40))
    assert server.stop() == 0
    return root / "data"


@pytest.fixture
def data_dir(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine, tmp_path / "data")
    return tmp_path / "data"


def _flip(store: Path, needle: bytes, offset: int, bit: int) -> None:
    """Flip one bit of the only copy of ``needle`` in the store file."""
    data = bytearray(store.read_bytes())
    assert data.count(needle) == 1, needle
    data[data.index(needle) + offset] ^= bit
    store.write_bytes(bytes(data))


def _stored_embedding(store: Path, doc_id: str) -> bytes:
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return bytes(db.execute("SELECT embedding FROM docs WHERE id = ?", (doc_id,)).fetchone()[0])
    finally:
        db.close()


DAMAGE: dict[str, Callable[[Path], None]] = {
    # the strict xfail of test_damaged_files.py: "music" -> "lusic", still valid UTF-8
    "text-bit": lambda store: _flip(store, b"music chair 5", 0, 0x01),
    # the high bit: the text is no longer UTF-8 (reported as damage, not a decoding error)
    "text-high-bit": lambda store: _flip(store, b"music chair 5", 2, 0x80),
    # {"i":5} -> {"i":4}: valid JSON, plausible, wrong
    "metadata": lambda store: _flip(store, b'{"i":5}', 5, 0x01),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_row_is_reported_and_never_served(
    damage: str, start_server: StartServer, data_dir: Path, figures: dict[str, Any]
) -> None:
    DAMAGE[damage](data_dir / "docs" / "store.sqlite3")
    server = start_server(data_dir)  # quick_check passes: the pages are sound
    expected = {doc["id"]: doc for doc in sample_documents(0, 40)}
    with Client(server.address) as client:
        with pytest.raises(DataLossError, match=DETECTED) as caught:
            client.get("docs", [DAMAGED])
        figures["message"] = str(caught.value)
        with pytest.raises(DataLossError, match=DETECTED):
            client.get("docs", ["d4", DAMAGED, "d6"])
        with pytest.raises(DataLossError, match=DETECTED):
            client.search("docs", "music chair 5", k=40)  # every document: d5 among them
        others = [doc_id for doc_id in expected if doc_id != DAMAGED]
        for doc in client.get("docs", others):
            assert (doc.text, doc.metadata) == (
                expected[doc.id]["text"],
                expected[doc.id]["metadata"],
            )
        hits = client.search("docs", "music chair", k=5, filter={"i": 17})[0]
        assert [hit.id for hit in hits] == ["d17"]

        client.upsert("docs", sample_documents(5, 1))  # writing the document again replaces the row
        assert client.get("docs", [DAMAGED])[0].text == expected[DAMAGED]["text"]
        assert len(client.search("docs", "music chair 5", k=40)[0]) == 40
    log = server.log()
    assert DETECTED in log and "ERROR" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    figures["ids_checked"] = len(others)
    assert server.stop() == 0


def test_a_damaged_embedding_is_never_served(
    start_server: StartServer, data_dir: Path, figures: dict[str, Any]
) -> None:
    store = data_dir / "docs" / "store.sqlite3"
    embedding = _stored_embedding(store, DAMAGED)
    _flip(store, embedding, len(embedding) // 2, 0x04)
    server = start_server(data_dir)
    with Client(server.address) as client:
        with pytest.raises(DataLossError, match=DETECTED) as caught:
            client.get_embeddings("docs", [DAMAGED])
        assert "its embedding does not match" in str(caught.value)
        figures["message"] = str(caught.value)
        assert client.get_embeddings("docs", ["d4", "d6"]).shape[0] == 2
        # the index holds the vector from its (checksummed) snapshot: searches stay right
        assert len(client.search("docs", "music chair 5", k=40)[0]) == 40
    assert server.stop() == 0
