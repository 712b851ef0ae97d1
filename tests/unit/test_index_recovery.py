"""Durability: crashes, replay of the store after the snapshot, corrupt or missing snapshots."""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

import simsearch
from simsearch.errors import UnavailableError
from simsearch.index import FaissCatalog, FaissCollection
from simsearch.index.collection import SNAPSHOT_FILE, STORE_FILE
from simsearch.index.snapshot import read_snapshot
from simsearch.types import FloatArray
from unit.index_fixtures import (
    Corpus,
    assert_same_hits,
    brute_force,
    operations,
    recall,
    spec,
    state_after,
    unit_vectors,
)

K = 10
HNSW = "HNSW32 | efSearch=256"
KINDS = ["flat", HNSW, "IVF4,Flat | nprobe=4"]


def ids(start: int, stop: int) -> list[str]:
    return [f"doc-{i}" for i in range(start, stop)]


def assert_holds(collection: FaissCollection, corpus: Corpus, exact: bool = True) -> None:
    """The collection holds exactly ``corpus`` and searches it correctly."""
    assert collection.count() == len(corpus.vectors)
    every = sorted(corpus.vectors)
    np.testing.assert_array_equal(
        collection.get_embeddings(every), np.stack([corpus.vectors[i] for i in every])
    )
    queries = unit_vectors(10, seed=99)
    hits, expected = collection.search(queries, K), corpus.expected(queries, K)
    if exact:
        assert_same_hits(hits, expected)
    else:
        assert recall(hits, expected) >= 0.95
    found = {hit.id for row in collection.search(queries, 200) for hit in row}
    assert found <= set(corpus.vectors)


def crashed_collection(data: Path, index: str) -> Corpus:
    """Writes, a checkpoint, more writes and deletes, then no close (as under kill -9)."""
    collection = FaissCatalog(data, checkpoint_every=10**6).create(spec(index=index))
    corpus = Corpus.empty()
    corpus.upsert(collection, ids(0, 300), unit_vectors(300, seed=1))
    corpus.delete(collection, ids(200, 210))
    collection.checkpoint()
    corpus.upsert(collection, ids(300, 400), unit_vectors(100, seed=2))
    corpus.delete(collection, [*ids(0, 40), "never-existed"])
    corpus.upsert(collection, ids(100, 140), unit_vectors(40, seed=3))
    return corpus


@pytest.mark.parametrize("index", KINDS)
def test_reopen_without_close_replays_every_acknowledged_write(
    tmp_path: Path, index: str, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = crashed_collection(tmp_path, index)
    with caplog.at_level(logging.WARNING, logger="simsearch.index"):
        collection = FaissCatalog(tmp_path).open("docs")
    assert not caplog.records  # the snapshot was valid: loaded and replayed, not rebuilt
    assert collection.get(["doc-0", "doc-205", "doc-399"])[:2] == [None, None]
    assert_holds(collection, corpus, exact=index != HNSW)


def test_training_due_during_replay_happens_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection = FaissCatalog(tmp_path).create(spec(index="IVF4,Flat | nprobe=4"))
    corpus = Corpus.empty()
    corpus.upsert(collection, ids(0, 200), unit_vectors(200, seed=1))
    collection.checkpoint()
    with monkeypatch.context() as patch:  # the process dies before it trains
        patch.setattr(FaissCollection, "_maintain", lambda self: None)
        corpus.upsert(collection, ids(200, 300), unit_vectors(100, seed=2))
    reopened = FaissCatalog(tmp_path).open("docs")
    assert reopened._vectors.stage == "native"
    assert_holds(reopened, corpus)
    assert read_snapshot(tmp_path / "docs" / SNAPSHOT_FILE).stage == "native"


def flip_bit(offset: int) -> Callable[[Path], None]:
    def corrupt(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[offset % len(data)] ^= 0x10
        path.write_bytes(bytes(data))

    return corrupt


def rewrite(**changes: object) -> Callable[[Path], None]:
    """A well-formed snapshot with a header that does not fit the store."""

    def corrupt(path: Path) -> None:
        dataclasses.replace(read_snapshot(path), **changes).write(path)  # type: ignore[arg-type]

    return corrupt


CORRUPTIONS: dict[str, Callable[[Path], object]] = {
    "missing": lambda path: path.unlink(),
    "empty": lambda path: path.write_bytes(b""),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    "flip-magic": flip_bit(3),
    "flip-digest": flip_bit(20),
    "flip-header": flip_bit(60),
    "flip-payload": flip_bit(-9),
    "garbage": lambda path: path.write_bytes(os.urandom(5000)),
    "other-dimension": rewrite(dimension=16),
    "other-collection": rewrite(uid="someone-else"),
}


def test_a_snapshot_newer_than_the_store_refuses_to_open(tmp_path: Path) -> None:
    """An intact snapshot only holds committed changes: a store behind it has lost
    acknowledged writes, which must stop the collection rather than be served without them."""
    catalog = FaissCatalog(tmp_path)
    corpus = Corpus.empty()
    corpus.upsert(catalog.create(spec()), ids(0, 20), unit_vectors(20, seed=1))
    catalog.close()
    rewrite(last_change=10**6)(tmp_path / "docs" / SNAPSHOT_FILE)
    with pytest.raises(UnavailableError, match=r"lost acknowledged writes.*index\.faiss"):
        FaissCatalog(tmp_path).open("docs")


@pytest.mark.parametrize("index", ["flat", HNSW])
@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_or_missing_snapshot_is_rebuilt_from_the_store(
    tmp_path: Path, index: str, corruption: str, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = FaissCatalog(tmp_path)
    collection = catalog.create(spec(index=index))
    corpus = Corpus.empty()
    corpus.upsert(collection, ids(0, 200), unit_vectors(200, seed=1))
    corpus.delete(collection, ids(0, 20))  # HNSW: tombstones in the snapshot, pruned in store
    catalog.close()
    CORRUPTIONS[corruption](tmp_path / "docs" / SNAPSHOT_FILE)

    with caplog.at_level(logging.WARNING, logger="simsearch.index"):
        reopened = FaissCatalog(tmp_path).open("docs")
    assert "rebuilding the index from the store" in caplog.text
    assert_holds(reopened, corpus, exact=index != HNSW)
    assert read_snapshot(tmp_path / "docs" / SNAPSHOT_FILE).last_change == 2  # fresh snapshot


def test_checkpoints_follow_checkpoint_every_and_prune_tombstones(tmp_path: Path) -> None:
    collection = FaissCatalog(tmp_path, checkpoint_every=50).create(spec())
    snapshot, store = tmp_path / "docs" / SNAPSHOT_FILE, tmp_path / "docs" / STORE_FILE
    corpus = Corpus.empty()
    corpus.upsert(collection, ids(0, 30), unit_vectors(30, seed=1))
    corpus.delete(collection, ids(0, 5))
    assert read_snapshot(snapshot).last_change == 0  # 35 changes < 50
    assert _tombstones(store) == 5
    corpus.upsert(collection, ids(30, 50), unit_vectors(20, seed=2))
    assert read_snapshot(snapshot).last_change == 3  # 55 changes >= 50
    assert _tombstones(store) == 0
    collection.close()
    assert read_snapshot(snapshot).last_change == 3  # nothing changed since: no new snapshot


def test_crash_leftovers_are_removed(tmp_path: Path) -> None:
    FaissCatalog(tmp_path).create(spec()).close()
    leftover = tmp_path / "docs" / f".{SNAPSHOT_FILE}.0123abcd.tmp"
    leftover.write_bytes(b"half a snapshot")
    (tmp_path / ".creating-0123abcd").mkdir()
    (tmp_path / ".creating-0123abcd" / STORE_FILE).write_bytes(b"")
    (tmp_path / ".dropped-0123abcd").mkdir()
    catalog = FaissCatalog(tmp_path)
    assert catalog.names() == ["docs"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs"]
    catalog.open("docs")
    assert not leftover.exists()


def _tombstones(store: Path) -> int:
    with sqlite3.connect(store) as db:
        return int(db.execute("SELECT COUNT(*) FROM tombstones").fetchone()[0])


# -- kill -9 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "seed"), [("flat", 1), ("HNSW32 | efSearch=128", 2)])
def test_kill_9_loses_no_acknowledged_write(tmp_path: Path, index: str, seed: int) -> None:
    FaissCatalog(tmp_path).create(spec("crash", index=index)).close()
    acked = _run_and_kill(tmp_path, seed, delay=random.Random(seed).uniform(0.5, 1.5))
    assert acked >= 5, "the child was killed before it wrote anything"

    collection = FaissCatalog(tmp_path).open("crash")
    candidates = [state_after(seed, acked), state_after(seed, acked + 1)]  # + the one in flight
    stored = {doc_id for doc_id, doc in _documents(collection, candidates) if doc is not None}
    state = next((s for s in candidates if set(s) == stored), None)
    assert state is not None, f"after {acked} acknowledged writes the store holds {len(stored)}"
    assert collection.count() == len(state)

    every = sorted(state)
    vectors = _written_vectors(seed, acked + 1)
    expected = np.stack([vectors[(state[doc_id], doc_id)] for doc_id in every])
    np.testing.assert_array_equal(collection.get_embeddings(every), expected)
    queries = unit_vectors(10, seed=5)
    hits, reference = collection.search(queries, K), brute_force(queries, every, expected, K)
    if index == "flat":
        assert_same_hits(hits, reference)
    else:
        assert recall(hits, reference) >= 0.9
        assert {hit.id for row in hits for hit in row} <= stored


def _run_and_kill(data: Path, seed: int, delay: float) -> int:
    """Start the writing child, SIGKILL it after ``delay`` s; the last acknowledged count."""
    child = Path(__file__).with_name("index_crash_child.py")
    source = str(Path(simsearch.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, str(child), str(data), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        reader.start()
        time.sleep(delay)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    reader.join(timeout=10)
    process.stdout.close()
    acks = [int(line.split()[1]) for line in lines if line.startswith("ack ")]
    return acks[-1] + 1 if acks else 0


def _documents(
    collection: FaissCollection, states: list[dict[str, int]]
) -> list[tuple[str, object]]:
    every = sorted(set().union(*states))
    return list(zip(every, collection.get(every), strict=True))


def _written_vectors(seed: int, count: int) -> dict[tuple[int, str], FloatArray]:
    vectors: dict[tuple[int, str], FloatArray] = {}
    for operation in islice(operations(seed), count):
        if operation.kind == "upsert":
            for doc_id, vector in zip(operation.ids, operation.vectors(), strict=True):
                vectors[(operation.number, doc_id)] = vector
    return vectors
