"""Crash loop: a writer upserts and deletes while the server is SIGKILLed, again and again.

Each cycle: start the server (forked by the zygote, so a restart costs ~0.3 s instead of ~5 s of
imports), run a writer thread against two collections (exact ``flat`` and approximate
``HNSW32``) with ``--checkpoint-every 4`` so snapshots are written all the time, then SIGKILL the
server at a seeded random moment; one cycle in three the kill is aimed at a snapshot write (the
test watches for the snapshot's temporary file and kills as soon as it appears). After the
restart, ``checks.verify_collection`` compares the server with every acknowledged write. The one
write in flight at the kill may or may not have been committed, but all or nothing of it.

Every second cycle the fixed queries are then asked, the idle server is killed again and
restarted, and the same queries must give the same ids and scores. At the end the server is
stopped cleanly, the index and store counts are compared in-process, and a cold
``python -m simsearch.cli serve`` is verified once more.
"""

from __future__ import annotations

import itertools
import random
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simsearch.client import Client
from simsearch.errors import SimsearchError, UnavailableError
from simsearch.index import FaissCatalog
from simsearch.index.snapshot import read_snapshot
from support.tiny_bert import CHINESE, ENGLISH_WORDS

from .checks import Expected, fixed_results, store_path, verify_collection
from .servers import Server, start_cold

WRITE_KILLS = 22  # the issue asks for at least 20
TIME_CAP_S = 120.0  # the loop stops early past this (and fails if it made fewer than 20 kills)
MAX_DOCS = 100  # per collection, so a k = count search covers everything
FLAGS = ("--checkpoint-every", "4")
COLLECTIONS = {"crash": "flat", "crash_hnsw": "HNSW32"}
UNUSABLE = re.compile(r"snapshot \S+ is unusable \((.*?)\); rebuilding")
TEMPORARY = ".index.faiss.*.tmp"


@dataclass
class Op:
    """One write: an upsert of ``docs`` or a delete of ``ids``, to ``collection``."""

    collection: str
    docs: list[tuple[str, str, dict[str, Any]]]
    ids: list[str]


class Writer(threading.Thread):
    """Writes until the server dies (or ``stopping`` is set); records what was acknowledged."""

    def __init__(
        self,
        address: str,
        rng: random.Random,
        state: dict[str, Expected],
        counter: itertools.count[int],
    ) -> None:
        super().__init__(daemon=True)
        self.address, self.rng, self.state, self.counter = address, rng, state, counter
        self.stopping = threading.Event()
        self.inflight: Op | None = None
        self.error: Exception | None = None
        self.acked = 0

    def run(self) -> None:
        with Client(self.address, timeout=10.0) as client:
            while not self.stopping.is_set():
                self.inflight = op = self._next()
                try:
                    if op.docs:
                        docs = [{"id": i, "text": t, "metadata": m} for i, t, m in op.docs]
                        client.upsert(op.collection, docs, batch_size=len(docs))
                    else:
                        client.delete(op.collection, op.ids)
                except (SimsearchError, OSError) as exc:
                    self.error = exc
                    return
                apply(self.state[op.collection], op)
                self.inflight = None
                self.acked += 1

    def _next(self) -> Op:
        name = self.rng.choice(sorted(self.state))
        known = sorted(self.state[name].docs)
        full = len(known) >= MAX_DOCS
        if known and (self.rng.random() < 0.15 or (full and self.rng.random() < 0.5)):
            return Op(name, [], self.rng.sample(known, min(len(known), self.rng.randint(1, 3))))
        ids: list[str] = []
        for _ in range(self.rng.randint(1, 6)):
            seq = next(self.counter)
            reuse = known and (full or self.rng.random() < 0.3)
            doc_id = self.rng.choice(known) if reuse else f"doc-{seq}"
            if doc_id not in ids:
                ids.append(doc_id)
        return Op(name, [(i, *_document(self.rng, next(self.counter))) for i in ids], [])


def _document(rng: random.Random, seq: int) -> tuple[str, dict[str, Any]]:
    words = rng.choices(ENGLISH_WORDS, k=rng.randint(3, 12)) + rng.choices(CHINESE, k=2)
    metadata = {"seq": seq, "word": words[0], "even": seq % 2 == 0, "nested": {"n": [seq, "x"]}}
    return f"{' '.join(words)} {seq}", metadata


def apply(expected: Expected, op: Op) -> None:
    for doc_id, text, metadata in op.docs:
        expected.docs[doc_id] = (text, metadata)
    for doc_id in op.ids:
        expected.docs.pop(doc_id, None)


def resolve_inflight(data_dir: Path, expected: Expected, op: Op) -> bool:
    """Whether the write in flight at the kill was committed; asserts all-or-nothing."""
    path = store_path(data_dir, op.collection)
    ids = [doc[0] for doc in op.docs] or op.ids
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(ids))
        rows = dict(db.execute(f"SELECT id, text FROM docs WHERE id IN ({marks})", ids))
    finally:
        db.close()
    if op.docs:
        done = [rows.get(doc_id) == text for doc_id, text, _ in op.docs]
    else:
        done = [doc_id not in rows for doc_id in op.ids]
    assert all(done) or not any(done), f"a write was half committed: {op} -> {done}"
    if all(done):
        apply(expected, op)
    return all(done)


def kill_at_random(
    server: Server, writer: Writer, rng: random.Random, data_dir: Path, aim: bool
) -> bool:
    """Once the writer's first write is acknowledged, SIGKILL after a random delay, or (``aim``)
    as soon as a snapshot is being written. Returns whether the kill left a half-written
    snapshot behind."""
    started = time.monotonic()
    while writer.acked == 0 and writer.is_alive() and time.monotonic() - started < 15.0:
        time.sleep(0.005)
    if aim:
        deadline = time.monotonic() + 1.0
        folders = [data_dir / name for name in COLLECTIONS]
        while time.monotonic() < deadline:
            if any(next(folder.glob(TEMPORARY), None) for folder in folders):
                break
    else:
        time.sleep(rng.uniform(0.0, 0.5))
    assert writer.error is None, f"a write failed before the kill: {writer.error!r}"
    server.kill()
    return any(next((data_dir / name).glob(TEMPORARY), None) for name in COLLECTIONS)


def check_log(server: Server, figures: dict[str, Any]) -> None:
    log = server.log()
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]
    for reason in UNUSABLE.findall(log):
        assert reason == "no snapshot file", f"a snapshot was unusable after a kill: {reason}"
        figures["rebuilds_without_snapshot"] = figures.get("rebuilds_without_snapshot", 0) + 1


def verify(server: Server, data_dir: Path, state: dict[str, Expected]) -> int:
    with Client(server.address, timeout=30.0) as client:
        return sum(verify_collection(client, data_dir, state[name]) for name in COLLECTIONS)


def idle_kill_keeps_results(start: Any, server: Server, data_dir: Path) -> Server:
    """Fixed queries before a kill of the idle server equal those after its restart."""
    with Client(server.address, timeout=30.0) as client:
        before = {name: fixed_results(client, name) for name in COLLECTIONS}
    server.kill()
    restarted = start(data_dir, *FLAGS)
    with Client(restarted.address, timeout=30.0) as client:
        after = {name: fixed_results(client, name) for name in COLLECTIONS}
    for name in COLLECTIONS:
        for row_before, row_after in zip(before[name], after[name], strict=True):
            assert [i for i, _ in row_before] == [i for i, _ in row_after], name
            for (_, a), (_, b) in zip(row_before, row_after, strict=True):
                assert abs(a - b) <= 1e-6, (name, a, b)
    return restarted


def test_kill_9_loop_loses_nothing(start_server, tmp_path: Path, seed: int, figures) -> None:
    rng, counter, data_dir = random.Random(seed), itertools.count(), tmp_path / "data"
    state = {name: Expected(name, exact=index == "flat") for name, index in COLLECTIONS.items()}
    server = start_server(data_dir, *FLAGS)
    with Client(server.address) as client:
        for name, index in COLLECTIONS.items():
            client.create_collection(name, index=index)
    tally = {
        "kills_during_writes": 0,
        "kills_idle": 0,
        "kills_mid_snapshot_write": 0,
        "acked_writes": 0,
        "inflight_committed": 0,
        "inflight_lost": 0,
        "ids_checked": 0,
        "restart_s": 0.0,
        "verify_s": 0.0,
    }
    started = time.monotonic()
    while tally["kills_during_writes"] < WRITE_KILLS and time.monotonic() - started < TIME_CAP_S:
        writer = Writer(server.address, rng, state, counter)
        writer.start()
        torn = kill_at_random(
            server, writer, rng, data_dir, aim=tally["kills_during_writes"] % 3 == 2
        )
        writer.stopping.set()
        writer.join(timeout=30.0)
        assert not writer.is_alive(), "the writer hung after the kill"
        if writer.error is not None:
            assert isinstance(writer.error, UnavailableError), repr(writer.error)
        tally["kills_during_writes"] += 1
        tally["kills_mid_snapshot_write"] += torn
        tally["acked_writes"] += writer.acked
        check_log(server, figures)
        if writer.inflight is not None:
            committed = resolve_inflight(
                data_dir, state[writer.inflight.collection], writer.inflight
            )
            tally["inflight_committed" if committed else "inflight_lost"] += 1
        restarting = time.monotonic()
        server = start_server(data_dir, *FLAGS)
        verifying = time.monotonic()
        tally["ids_checked"] += verify(server, data_dir, state)
        tally["restart_s"] += verifying - restarting
        tally["verify_s"] += time.monotonic() - verifying
        if tally["kills_during_writes"] % 2 == 0:
            server = idle_kill_keeps_results(start_server, server, data_dir)
            tally["kills_idle"] += 1
            check_log(server, figures)
    tally["seconds"] = round(time.monotonic() - started, 1)
    tally["restart_s"], tally["verify_s"] = (
        round(tally["restart_s"], 1),
        round(tally["verify_s"], 1),
    )
    tally["documents_at_end"] = {name: len(state[name].docs) for name in COLLECTIONS}
    figures.update(tally)
    assert tally["kills_during_writes"] >= 20, f"only {tally} within {TIME_CAP_S} s"
    assert tally["acked_writes"] >= WRITE_KILLS, "the writer barely wrote between kills"
    assert server.stop() == 0
    check_index_matches_store(data_dir, state)
    cold = start_cold(server_model(server), data_dir, tmp_path / "cold.log", *FLAGS).wait_ready()
    try:
        figures["ids_checked_cold_start"] = verify(cold, data_dir, state)
    finally:
        assert cold.stop() == 0


def server_model(server: Server) -> Path:
    """The model directory a server was started with (from its log)."""
    found = re.search(r"loading model (\S+)", server.log())
    assert found, server.log()
    return Path(found.group(1))


def check_index_matches_store(data_dir: Path, state: dict[str, Expected]) -> None:
    """In-process, after a clean stop: snapshot intact and current, index count = store count."""
    catalog = FaissCatalog(data_dir)
    try:
        for name in COLLECTIONS:
            db = sqlite3.connect(f"file:{store_path(data_dir, name)}?mode=ro", uri=True)
            try:
                rows = db.execute("SELECT COUNT(*) FROM docs").fetchone()[0]
                last = int(
                    db.execute("SELECT value FROM meta WHERE key='last_change'").fetchone()[0]
                )
            finally:
                db.close()
            snapshot = read_snapshot(data_dir / name / "index.faiss")  # checksum verified
            assert snapshot.last_change == last, (name, snapshot.last_change, last)  # current
            assert catalog.open(name).count() == rows == len(state[name].docs)
    finally:
        catalog.close()


def test_replay_after_repeated_crashes_stays_bounded(start_server, tmp_path: Path, figures) -> None:
    """ "A crash costs at most a replay of checkpoint_every store rows" (FaissCatalog): also when
    every run is killed before it has written checkpoint_every documents itself."""
    data, every = tmp_path / "data", 4
    for cycle in range(6):
        server = start_server(data, "--checkpoint-every", str(every))
        with Client(server.address) as client:
            if cycle == 0:
                client.create_collection("docs")
            for i in range(every - 1):  # one document short of a checkpoint
                client.upsert("docs", [{"id": f"c{cycle}-{i}", "text": f"cat {cycle} {i}"}])
        server.kill()
    db = sqlite3.connect(f"file:{store_path(data, 'docs')}?mode=ro", uri=True)
    try:
        snapshot = read_snapshot(data / "docs" / "index.faiss").last_change
        replay = db.execute("SELECT COUNT(*) FROM docs WHERE change > ?", (snapshot,)).fetchone()
    finally:
        db.close()
    figures["rows_to_replay"] = replay[0]
    assert replay[0] <= every, (
        f"{replay[0]} rows to replay after 6 crashes, checkpoint_every {every}"
    )
