"""Damaged files: a bad index snapshot is rebuilt from the store; a bad store makes its
collection unavailable while the server serves the others.

One pristine data directory is built per module (an exact and an HNSW collection, written in two
rounds with deletes, stopped cleanly so each has a current snapshot and no WAL) and copied for
each case. Snapshot damage (truncation, flipped bits, another collection's snapshot) must be
detected, logged with its reason, and the index rebuilt from the store: every document then
checks out against the store (``checks.verify_collection``), so no wrong id is ever served.
Store damage (header overwritten, random bytes over a page, truncation), a lost WAL tail, or an
index kind FAISS cannot run (as an older version could create) must leave that one collection
unavailable: the server starts, serves the other collection, names the cause in the log (one
ERROR line) and in Describe/List, answers every other call on it UNAVAILABLE, never modifies its
files, and lets it be dropped.
"""

from __future__ import annotations

import random
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simsearch.cli import main as cli_main
from simsearch.client import Client
from simsearch.errors import InvalidArgumentError, UnavailableError
from simsearch.index.snapshot import read_snapshot
from support.stored_spec import set_stored_index

from .checks import Expected, sample_documents, verify_collection
from .servers import Server, Zygote, start_forked

COLLECTIONS = {"docs": "flat", "ann": "HNSW32"}
UNUSABLE = re.compile(r"snapshot \S+ is unusable \((.*?)\); rebuilding")
PAGE = 4096
REMOVED = [f"d{i}" for i in range(0, 30, 3)]


@pytest.fixture(scope="module")
def pristine(
    zygote: Zygote, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, dict[str, Expected]]:
    """(data dir, folder of older snapshots, expected contents), built once.

    Round one writes 60 documents to each collection; round two adds 30 to both, and in
    ``docs`` also replaces 20 and deletes 10 (their tombstones are pruned at the clean stop).
    """
    root = tmp_path_factory.mktemp("pristine")
    data, log, old = root / "data", root / "server.log", root / "old"
    expected = {name: Expected(name, exact=index == "flat") for name, index in COLLECTIONS.items()}
    rounds = {
        "docs": (sample_documents(0, 60), sample_documents(40, 50), REMOVED),
        "ann": (sample_documents(0, 60), sample_documents(60, 30), []),
    }
    for step in range(2):
        server = start_forked(zygote, tiny_model_dir, data, log).wait_ready()
        with Client(server.address) as client:
            for name, index in COLLECTIONS.items():
                if step == 0:
                    client.create_collection(name, index=index)
                client.upsert(name, rounds[name][step])
                if step == 1:
                    client.delete(name, rounds[name][2]) if rounds[name][2] else None
        assert server.stop() == 0
        if step == 0:
            for name in COLLECTIONS:
                (old / name).mkdir(parents=True)
                shutil.copy(data / name / "index.faiss", old / name / "index.faiss")
    for name, (first, second, removed) in rounds.items():
        for doc in first + second:
            expected[name].docs[doc["id"]] = (doc["text"], doc["metadata"])
        for doc_id in removed:
            expected[name].docs.pop(doc_id)
        wal = data / name / "store.sqlite3-wal"
        assert not wal.exists() or wal.stat().st_size == 0
    return data, old, expected


@pytest.fixture
def data_dir(pristine: tuple[Path, Path, dict[str, Expected]], tmp_path: Path) -> Path:
    shutil.copytree(pristine[0], tmp_path / "data")
    return tmp_path / "data"


def _flip(offset: Callable[[int], int]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[offset(len(data))] ^= 0x10
        path.write_bytes(bytes(data))

    return damage


def _truncate(size: Callable[[int], int]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: size(len(data))])

    return damage


def _garbage(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(path.stat().st_size))


SNAPSHOT_DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated-half": _truncate(lambda n: n // 2),
    "truncated-last-byte": _truncate(lambda n: n - 1),
    "truncated-to-magic": _truncate(lambda n: 8),
    "empty": _truncate(lambda n: 0),
    "bit-in-checksum": _flip(lambda n: 20),
    "bit-in-header": _flip(lambda n: 60),
    "bit-in-index": _flip(lambda n: n // 2),
    "bit-in-last-byte": _flip(lambda n: n - 1),
    "random-bytes": _garbage,
}


# Every damage on the exact collection; three on the HNSW one (its snapshot also holds
# tombstones), to keep the module fast.
SNAPSHOT_CASES = [("docs", damage) for damage in sorted(SNAPSHOT_DAMAGE)] + [
    ("ann", damage) for damage in ("bit-in-index", "random-bytes", "truncated-half")
]


@pytest.mark.parametrize(("name", "damage"), SNAPSHOT_CASES)
def test_damaged_snapshot_is_rebuilt_from_the_store(
    damage: str, name: str, start_server, data_dir: Path, pristine, figures
) -> None:
    snapshot = data_dir / name / "index.faiss"
    SNAPSHOT_DAMAGE[damage](snapshot)
    server = start_server(data_dir)
    with Client(server.address) as client:
        figures["ids_checked"] = verify_collection(client, data_dir, pristine[2][name])
    reasons = UNUSABLE.findall(server.log())
    assert len(reasons) == 1, server.log()
    figures["reason"] = reasons[0]
    assert read_snapshot(snapshot).last_change > 0  # rewritten at once, intact
    assert server.stop() == 0


def test_snapshot_of_another_collection_is_rejected(start_server, data_dir: Path, pristine) -> None:
    shutil.copy(data_dir / "ann" / "index.faiss", data_dir / "docs" / "index.faiss")
    server = start_server(data_dir)
    with Client(server.address) as client:
        verify_collection(client, data_dir, pristine[2]["docs"])
    assert re.search(r"snapshot \S+ is unusable \(it has uid", server.log()), server.log()


def test_older_snapshot_with_only_inserts_since_is_replayed(
    start_server, data_dir: Path, pristine
) -> None:
    shutil.copy(pristine[1] / "ann" / "index.faiss", data_dir / "ann" / "index.faiss")
    server = start_server(data_dir)
    with Client(server.address) as client:
        verify_collection(client, data_dir, pristine[2]["ann"])
    assert not UNUSABLE.findall(server.log()), server.log()


def test_older_snapshot_across_pruned_deletes_is_rebuilt(
    start_server, data_dir: Path, pristine
) -> None:
    """Tombstones the newer snapshot covered are pruned, so the replay cannot remove those
    labels: the count check after replay must notice and rebuild."""
    shutil.copy(pristine[1] / "docs" / "index.faiss", data_dir / "docs" / "index.faiss")
    server = start_server(data_dir)
    with Client(server.address) as client:
        verify_collection(client, data_dir, pristine[2]["docs"])
    assert UNUSABLE.findall(server.log()) == ["after replay it has 110 vectors for 80"]


def _store_pages(path: Path) -> tuple[int, int]:
    """(page count, root page of the docs table)."""
    db = sqlite3.connect(path)
    try:
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'docs'").fetchone()[0]
        return int(db.execute("PRAGMA page_count").fetchone()[0]), int(root)
    finally:
        db.close()


def _overwrite_page(which: Callable[[int, int], int]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        count, root = _store_pages(path)
        page = which(count, root)  # 1-based
        with open(path, "r+b") as file:
            file.seek((page - 1) * PAGE)
            file.write(random.Random(page).randbytes(PAGE))

    return damage


def _header(path: Path) -> None:
    with open(path, "r+b") as file:
        file.write(random.Random(1).randbytes(100))


STORE_DAMAGE: dict[str, Callable[[Path], None]] = {
    "header-overwritten": _header,
    "docs-root-page-random": _overwrite_page(lambda count, root: root),
    "last-page-random": _overwrite_page(lambda count, root: count),
    "middle-page-random": _overwrite_page(lambda count, root: max(2, count // 2)),
    "truncated-half": _truncate(lambda n: (n // 2) // PAGE * PAGE),
}


def _files(directory: Path) -> dict[str, bytes]:
    """The bytes of a collection's files: store, -wal, snapshot (not the -shm, SQLite's
    shared-memory index, rebuilt from the WAL by whoever opens it)."""
    return {
        path.name: path.read_bytes()
        for path in sorted(directory.iterdir())
        if not path.name.endswith("-shm")
    }


def _check_unavailable(
    server: Server, data_dir: Path, name: str, other: Expected, figures: dict[str, Any]
) -> str:
    """``name`` is reported unavailable everywhere with one cause, refuses every other call
    with it, and ``other`` is served in full; returns the cause."""
    with Client(server.address) as client:
        cause = client.describe_collection(name).unavailable
        listed = {info.spec.name: info.unavailable for info in client.list_collections()}
        assert cause and listed == {name: cause, other.name: ""}, listed
        calls: list[Callable[[], object]] = [
            lambda: client.search(name, "cat", k=3),
            lambda: client.get(name, ["d1"]),
            lambda: client.upsert(name, sample_documents(500, 1)),
            lambda: client.delete(name, ["d1"]),
        ]
        for call in calls:
            with pytest.raises(UnavailableError) as refused:
                call()
            assert cause in str(refused.value) and "dropping it deletes" in str(refused.value)
        figures["ids_checked"] = verify_collection(client, data_dir, other)
    errors = [line for line in server.log().splitlines() if " ERROR " in line]
    assert len(errors) == 1 and f"collection {name!r} is unavailable: {cause}" in errors[0], errors
    assert "Traceback" not in server.log(), server.log()[-3000:]
    figures["unavailable"] = cause
    return cause


def _drop_and_restart(
    start_server: Any, server: Server, data_dir: Path, name: str, other: Expected
) -> None:
    """Dropping the unavailable collection works; a restart then serves the other one alone."""
    with Client(server.address) as client:
        client.drop_collection(name)
        assert [info.spec.name for info in client.list_collections()] == [other.name]
    assert server.stop() == 0 and not (data_dir / name).exists()
    restarted = start_server(data_dir)
    with Client(restarted.address) as client:
        assert [info.unavailable for info in client.list_collections()] == [""]
        verify_collection(client, data_dir, other)
    assert restarted.stop() == 0


@pytest.mark.parametrize("damage", sorted(STORE_DAMAGE))
def test_damaged_store_leaves_its_collection_unavailable(
    damage: str, start_server, data_dir: Path, pristine, figures
) -> None:
    store = data_dir / "docs" / "store.sqlite3"
    STORE_DAMAGE[damage](store)
    damaged = _files(data_dir / "docs")
    server = start_server(data_dir)
    cause = _check_unavailable(server, data_dir, "docs", pristine[2]["ann"], figures)
    assert str(store) in cause, cause
    assert _files(data_dir / "docs") == damaged  # left as it was, for whoever repairs it
    _drop_and_restart(start_server, server, data_dir, "docs", pristine[2]["ann"])


def test_lost_wal_tail_leaves_the_collection_unavailable_until_repaired(
    start_server, tmp_path: Path, figures
) -> None:
    """A SIGKILL leaves the last commits in ``store.sqlite3-wal``, newer than the snapshot file
    knows; cutting the WAL loses commits the snapshot has seen. SQLite itself cannot tell that
    from a torn last write and silently drops them, but a snapshot newer than the store proves
    acknowledged writes are gone: the collection must not be served without them. Deleting
    the snapshot (accepting the loss) and restarting brings it back with what the store holds.
    """
    data = tmp_path / "data"
    other = Expected("other", exact=True)
    server = start_server(data, "--checkpoint-every", "4")
    with Client(server.address) as client:
        client.create_collection("docs")
        client.create_collection("other")
        client.upsert("other", sample_documents(0, 10))
        other.docs.update({d["id"]: (d["text"], d["metadata"]) for d in sample_documents(0, 10)})
        for i in range(0, 60, 3):
            client.upsert("docs", sample_documents(i, 3))
    server.kill()
    wal = data / "docs" / "store.sqlite3-wal"
    assert wal.stat().st_size > 0 and read_snapshot(data / "docs" / "index.faiss").last_change > 8
    _truncate(lambda n: n // 4)(wal)
    damaged = _files(data / "docs")
    restarted = start_server(data)
    cause = _check_unavailable(restarted, data, "docs", other, figures)
    assert "the store has lost acknowledged writes" in cause and "store.sqlite3" in cause
    assert restarted.stop() == 0
    assert _files(data / "docs") == damaged  # the -wal too: nothing checkpointed or deleted

    (data / "docs" / "index.faiss").unlink()  # the repair the message offers: accept the loss
    repaired = start_server(data)
    with Client(repaired.address) as client:
        info = client.describe_collection("docs")
        assert info.unavailable == "" and 0 < info.count < 60
        figures["documents_served_after_repair"] = info.count
    assert repaired.stop() == 0


@pytest.mark.parametrize("index", ["HNSW1", "HNSW0"])
def test_a_stored_index_faiss_cannot_run_leaves_its_collection_unavailable(
    index: str, start_server, data_dir: Path, pristine, figures, capsys
) -> None:
    """Issue 9, item 1: an older version accepted ``CreateCollection(index="HNSW1")``, and
    FAISS then killed the server at the first upsert and at every restart (SIGSEGV; SIGABRT
    ``Faiss assertion 'i < end' failed`` for HNSW0). Such a stored collection is refused by the
    index check when it opens; the server serves the rest and refuses to create another."""
    set_stored_index(data_dir / "ann", index)
    stored = _files(data_dir / "ann")
    server = start_server(data_dir)
    cause = _check_unavailable(server, data_dir, "ann", pristine[2]["docs"], figures)
    assert f"index {index!r}" in cause, cause
    assert _files(data_dir / "ann") == stored
    with (
        Client(server.address) as client,
        pytest.raises(InvalidArgumentError, match=f"index {index!r}"),
    ):
        client.create_collection("again", index=index)
    assert cli_main(["--address", server.address, "collections"]) == 0
    assert cli_main(["--address", server.address, "describe", "ann"]) == 0
    shown = capsys.readouterr().out
    assert "unavailable: ann (`simsearch describe NAME` says why)" in shown, shown
    assert f"status        UNAVAILABLE: {cause}" in shown, shown
    _drop_and_restart(start_server, server, data_dir, "ann", pristine[2]["docs"])
