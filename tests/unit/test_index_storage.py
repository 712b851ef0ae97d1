"""Storage failures: a write the store refuses is UnavailableError and loses nothing earlier."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import simsearch
from simsearch.errors import UnavailableError
from simsearch.index import FaissCatalog
from simsearch.index.collection import STORE_FILE
from simsearch.index.store import Row, Store
from simsearch.index.vectors import VectorIndex
from simsearch.types import Document
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

    def lost_reply(self: Store, rows: list[Row]) -> object:
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
