"""Storage failures: a write the store refuses is UnavailableError and loses nothing earlier;
a stored row that rots is DataLossError and never served (row checksums); schema 1 stores
are migrated to checksums when they open."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import simsearch
from simsearch.errors import DataLossError, UnavailableError
from simsearch.index import FaissCatalog
from simsearch.index.collection import SNAPSHOT_FILE, STORE_FILE
from simsearch.index.store import DocumentRow, Store
from simsearch.index.vectors import VectorIndex
from simsearch.types import Document, FloatArray, TokenVectors
from unit.index_fixtures import Corpus, assert_same_hits, brute_force, spec, unit_vectors

K = 10


def ids(start: int, stop: int) -> list[str]:
    return [f"doc-{i}" for i in range(start, stop)]


def test_locked_store_is_unavailable_and_nothing_is_lost(tmp_path: Path) -> None:
    """Another process (a backup, the sqlite3 shell) holds the write lock past busy_timeout."""
    collection = FaissCatalog(tmp_path, busy_timeout=0.1).create(spec())
    corpus = Corpus.empty()
    corpus.upsert(collection, ids(0, 50), unit_vectors(50, seed=1))
    queries = unit_vectors(5, seed=2)

    blocker = sqlite3.connect(tmp_path / "docs" / STORE_FILE, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    refused = [Document(doc_id, doc_id) for doc_id in ids(50, 60)]
    with pytest.raises(UnavailableError, match=r"locked.*nothing was changed"):
        collection.upsert(refused, unit_vectors(10, seed=3))
    with pytest.raises(UnavailableError, match="locked"):
        collection.delete(ids(0, 10))
    assert collection.count() == 50  # reads go on while the lock is held
    assert_same_hits(collection.search(queries, K), corpus.expected(queries, K))
    blocker.execute("ROLLBACK")
    blocker.close()

    corpus.upsert(collection, ids(50, 60), unit_vectors(10, seed=4))
    corpus.delete(collection, ids(0, 10))
    assert_same_hits(collection.search(queries, K), corpus.expected(queries, K))
    reopened = FaissCatalog(tmp_path).open("docs")  # as after a crash: no close
    assert reopened.count() == 50
    assert_same_hits(reopened.search(queries, K), corpus.expected(queries, K))


DISK_FULL_CHILD = textwrap.dedent(
    """
    import os, resource, signal, sys
    from pathlib import Path
    from simsearch.errors import UnavailableError
    from simsearch.index import FaissCatalog
    from simsearch.types import Document
    from unit.index_fixtures import unit_vectors

    collection = FaissCatalog(Path(sys.argv[1])).open("docs")
    directory = Path(sys.argv[1]) / "docs"
    largest = max(path.stat().st_size for path in directory.iterdir())
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (largest + 16_384, resource.RLIM_INFINITY))
    documents = [Document(f"big-{i}", "x" * 200) for i in range(2000)]
    try:
        collection.upsert(documents, unit_vectors(2000, seed=7))
        print("written")
    except UnavailableError as exc:
        print("unavailable:", exc)
    print("count", collection.count())
    print("search", len(collection.search(unit_vectors(1, seed=8), 5)[0]))
    """
)


def test_disk_full_is_unavailable_and_nothing_is_lost(tmp_path: Path) -> None:
    """A real write failure: the child's file-size limit makes the store's disk 'full'."""
    catalog = FaissCatalog(tmp_path)
    corpus = Corpus.empty()
    corpus.upsert(catalog.create(spec()), ids(0, 50), unit_vectors(50, seed=1))
    catalog.close()

    tests = Path(__file__).resolve().parents[1]
    source = Path(simsearch.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [source, tests]))}
    result = subprocess.run(
        [sys.executable, "-c", DISK_FULL_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("unavailable:"), result.stdout  # SQLite: "disk I/O error"
    assert "could not write documents" in lines[0]
    assert lines[1:] == ["count 50", "search 5"]

    reopened = FaissCatalog(tmp_path).open("docs")
    queries = unit_vectors(5, seed=2)
    assert reopened.count() == 50
    assert_same_hits(reopened.search(queries, K), corpus.expected(queries, K))


def test_a_failed_write_that_reached_the_disk_is_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COMMIT reported an error but was durable: the index follows the store, not the error."""
    collection = FaissCatalog(tmp_path).create(spec())
    original = Store.upsert

    def lost_reply(self: Store, rows: list[DocumentRow]) -> object:
        original(self, rows)
        self.last_change -= 1  # as if the COMMIT had raised
        raise UnavailableError("disk I/O error")

    monkeypatch.setattr(Store, "upsert", lost_reply)
    written, vectors = ids(0, 20), unit_vectors(20, seed=1)
    with pytest.raises(UnavailableError):
        collection.upsert([Document(doc_id, doc_id) for doc_id in written], vectors)
    monkeypatch.undo()
    assert collection.count() == 20
    queries = unit_vectors(3, seed=2)
    assert_same_hits(collection.search(queries, K), brute_force(queries, written, vectors, K))


def test_a_failed_faiss_update_rebuilds_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection = FaissCatalog(tmp_path).create(spec())
    corpus = Corpus.empty()
    corpus.upsert(collection, ids(0, 20), unit_vectors(20, seed=1))
    monkeypatch.setattr(VectorIndex, "add", _fail_once(VectorIndex.add))
    corpus.upsert(collection, ids(20, 40), unit_vectors(20, seed=2))
    assert collection.count() == 40
    queries = unit_vectors(3, seed=3)
    assert_same_hits(collection.search(queries, K), corpus.expected(queries, K))


def _fail_once(method: object) -> object:
    calls: list[int] = []

    def wrapper(self: VectorIndex, *args: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError("simulated")
        assert callable(method)
        return method(self, *args)

    return wrapper


# -- row checksums: a damaged row is reported, never served ----------------------------------

DAMAGED = "doc-5"


def _rot(data_dir: Path, sql: str, *params: object) -> None:
    """Change a stored value behind the store's back (its checksum stays), as rot would."""
    db = sqlite3.connect(data_dir / "docs" / STORE_FILE, isolation_level=None)
    try:
        assert db.execute(sql, params).rowcount == 1
    finally:
        db.close()


ROT = {
    "text": ("UPDATE docs SET text = 'lext of doc-5' WHERE id = ?", DAMAGED),
    "text-not-utf8": ("UPDATE docs SET text = CAST(X'74e97874' AS TEXT) WHERE id = ?", DAMAGED),
    "metadata": ("UPDATE docs SET metadata = '{\"group\":0}' WHERE id = ?", DAMAGED),
    "id": ("UPDATE docs SET id = 'doc-6x' WHERE id = ?", DAMAGED),
}


@pytest.mark.parametrize("damage", sorted(ROT))
def test_a_row_whose_content_rotted_is_never_served(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    collection = FaissCatalog(tmp_path).create(spec())
    corpus = Corpus.empty()
    corpus.upsert(collection, ids(0, 20), unit_vectors(20, seed=1))
    _rot(tmp_path, *ROT[damage])
    named = "doc-6x" if damage == "id" else DAMAGED
    detected = rf"collection 'docs': document '{named}' is damaged in the store .*{STORE_FILE}"

    with pytest.raises(DataLossError, match=detected):
        collection.search(unit_vectors(1, seed=3), 20)  # every row is a hit
    if damage != "id":  # a damaged id is not found by its old name, nor served under the new
        with pytest.raises(DataLossError, match=detected):
            collection.get(["doc-4", DAMAGED])
    assert f"document '{named}' is damaged" in caplog.text
    others = [doc_id for doc_id in ids(0, 20) if doc_id != DAMAGED]
    found = collection.get(others)
    assert [(doc.id if doc else None) for doc in found] == others
    filtered = collection.search(unit_vectors(1, seed=3), 20, filter={"group": 1})
    assert DAMAGED not in {hit.id for hit in filtered[0]}

    corpus.upsert(collection, [DAMAGED], unit_vectors(1, seed=4))  # replaces the row
    if damage == "id":
        collection.delete(["doc-6x"])
    queries = unit_vectors(3, seed=5)
    assert_same_hits(collection.search(queries, 20), corpus.expected(queries, 20))


def test_a_rotted_embedding_is_never_served_nor_indexed(tmp_path: Path) -> None:
    collection = FaissCatalog(tmp_path).create(spec())
    Corpus.empty().upsert(collection, ids(0, 20), unit_vectors(20, seed=1))
    collection.close()
    _rot(tmp_path, "UPDATE docs SET embedding = zeroblob(128) WHERE id = ?", DAMAGED)
    detected = rf"document '{DAMAGED}' is damaged .*its embedding does not match"

    collection = FaissCatalog(tmp_path).open("docs")  # its snapshot is current: no replay
    with pytest.raises(DataLossError, match=detected):
        collection.get_embeddings(["doc-4", DAMAGED])
    assert collection.get_embeddings(["doc-4"]).shape == (1, spec().dimension)
    collection.close()

    (tmp_path / "docs" / SNAPSHOT_FILE).unlink()  # a rebuild must not index the damaged vector
    with pytest.raises(UnavailableError, match=detected):
        FaissCatalog(tmp_path).open("docs")


def test_a_rotted_embedding_is_never_used_to_score(tmp_path: Path) -> None:
    """Approximate kinds score filtered candidates exactly with the stored embeddings."""
    collection = FaissCatalog(tmp_path).create(spec(index="HNSW32"))
    Corpus.empty().upsert(collection, ids(0, 20), unit_vectors(20, seed=1))
    _rot(tmp_path, "UPDATE docs SET embedding = zeroblob(128) WHERE id = ?", DAMAGED)
    query = unit_vectors(1, seed=2)
    with pytest.raises(DataLossError, match=f"'{DAMAGED}' is damaged .*its embedding"):
        collection.search(query, 5, filter={"group": 2})  # doc-5 is in group 2
    assert len(collection.search(query, 5, filter={"group": 1})[0]) == 5


def test_rotted_token_vectors_are_never_served(tmp_path: Path) -> None:
    collection = FaissCatalog(tmp_path).create(spec(store_tokens=True))
    tokens = [TokenVectors(unit_vectors(4, seed=i), np.zeros(4, np.uint8)) for i in range(3)]
    documents = [Document(doc_id, doc_id) for doc_id in ids(4, 7)]
    collection.upsert(documents, unit_vectors(3, seed=1), tokens)
    _rot(
        tmp_path,
        "UPDATE tokens SET vectors = zeroblob(length(vectors)) "
        "WHERE label = (SELECT label FROM docs WHERE id = ?)",
        DAMAGED,
    )
    with pytest.raises(DataLossError, match=f"'{DAMAGED}' is damaged .*its token embeddings"):
        collection.get_token_vectors(["doc-4", DAMAGED])
    assert len(collection.get_token_vectors(["doc-4", "doc-6"])) == 2


def test_labels_are_never_reused(tmp_path: Path) -> None:
    """Labels are chosen before the insert (the checksums cover them), as AUTOINCREMENT would."""
    store_path = tmp_path / STORE_FILE
    Store.initialise(store_path, spec(), 0.0, "uid")
    store = Store.open(store_path, "docs", timeout=1.0)
    rows = [
        DocumentRow(doc_id, doc_id, "{}", unit_vectors(1, seed=1)[0].tobytes()) for doc_id in "abc"
    ]
    assert store.upsert(rows).added.tolist() == [1, 2, 3]
    store.delete(["b", "c"])  # the largest label is gone
    assert store.upsert(rows[1:]).added.tolist() == [4, 5]
    assert store.upsert(rows[:1]).added.tolist() == [6]  # a replacement gets a new label
    store.close()


# -- schema 1 (before row checksums) is migrated on open -------------------------------------

SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE docs (
    label INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    embedding BLOB NOT NULL,
    change INTEGER NOT NULL
);
CREATE INDEX docs_change ON docs (change);
CREATE TABLE tombstones (
    label INTEGER PRIMARY KEY, born INTEGER NOT NULL, change INTEGER NOT NULL
);
CREATE INDEX tombstones_change ON tombstones (change);
"""


def _schema_1_store(directory: Path, count: int, *, tokens_table: bool) -> FloatArray:
    """A store as simsearch wrote it before row checksums (with its tables and statements);
    ``tokens_table`` False: from before ``store_tokens`` too. Returns the embeddings."""
    directory.mkdir(parents=True)
    vectors = unit_vectors(count, seed=11)
    meta = {
        "schema": 1,
        "spec": {**dataclasses.asdict(spec()), "pooling": spec().pooling.value},
        "created_at": 1.0,
        "uid": "old-uid",
        "last_change": 1,
    }
    db = sqlite3.connect(directory / STORE_FILE, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(SCHEMA_1)
    if tokens_table:
        db.execute(
            "CREATE TABLE tokens "
            "(label INTEGER PRIMARY KEY, kinds BLOB NOT NULL, vectors BLOB NOT NULL)"
        )
    db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
    for i, doc_id in enumerate(ids(0, count)):
        db.execute(
            "INSERT INTO docs (id, text, metadata, embedding, change) VALUES (?, ?, ?, ?, ?)",
            (doc_id, f"text of {doc_id} é", json.dumps({"i": i}), vectors[i].tobytes(), 1),
        )
    db.close()
    return vectors


@pytest.mark.parametrize("tokens_table", [True, False], ids=["schema-1", "before-tokens"])
def test_a_schema_1_store_is_migrated_and_then_checked(
    tmp_path: Path, tokens_table: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="simsearch.index")
    vectors = _schema_1_store(tmp_path / "docs", 30, tokens_table=tokens_table)
    collection = FaissCatalog(tmp_path).open("docs")  # no snapshot: rebuilt, vectors checked
    assert "added row checksums to the store" in caplog.text and "30 documents" in caplog.text
    assert collection.count() == 30
    assert collection.get(["doc-3"])[0] == Document("doc-3", "text of doc-3 é", {"i": 3})
    queries = unit_vectors(3, seed=12)
    expected = brute_force(queries, ids(0, 30), vectors, K)
    assert_same_hits(collection.search(queries, K), expected)
    collection.upsert([Document("doc-30", "new")], unit_vectors(1, seed=13))
    collection.close()

    db = sqlite3.connect(tmp_path / "docs" / STORE_FILE)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("2",)
    assert db.execute("SELECT max(label) FROM docs").fetchone() == (31,)  # after the old ones
    db.close()
    _rot(tmp_path, "UPDATE docs SET text = 'text of doc-7 e' WHERE id = ?", "doc-7")
    reopened = FaissCatalog(tmp_path).open("docs")  # no second migration
    with pytest.raises(DataLossError, match="'doc-7' is damaged"):
        reopened.get(["doc-7"])
    assert reopened.get(["doc-8"])[0] is not None
