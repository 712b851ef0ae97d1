"""Disk trouble: when the store cannot write, writes fail with UNAVAILABLE and nothing is lost.

Full disk: the server process runs under ``RLIMIT_FSIZE`` (set in the forked child, SIGXFSZ
ignored), so a write that would grow any file past the limit fails with EFBIG, as on a full
disk. This works the same as root and as an ordinary user (lowering one's own limit needs no
privilege), unlike ``chmod``, which does not stop root. The limit leaves room for a few more
commits in the WAL; the test writes one document at a time until the disk is "full", then checks
that the failed writes answered UNAVAILABLE, that every acknowledged document is intact and
searchable on the same server, that it keeps failing cleanly, and that after a restart without
the limit everything acknowledged is there and writing works again.

Read-only directory: only as an ordinary user (root ignores the permission bits); the server must
refuse to start naming the store, or start and refuse writes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from simsearch.client import Client
from simsearch.errors import NotFoundError, SimsearchError, UnavailableError

from .checks import Expected, verify_collection
from .servers import ServerExitedError

HEADROOM = 64 * 1024  # bytes a file may grow past the store's size before writes fail


def _document(i: int) -> dict[str, Any]:
    words = ["the", "cat", "dog", "sits", "on", "mat", "in", "park", "with", "music"]
    return {
        "id": f"d{i}",
        "text": f"{words[i % 10]} {words[(i * 3) % 10]} {i}",
        "metadata": {"i": i},
    }


def _fill(start_server, data: Path, expected: Expected, count: int) -> None:
    server = start_server(data)
    with Client(server.address) as client:
        client.create_collection(expected.name)
        docs = [_document(i) for i in range(count)]
        client.upsert(expected.name, docs, batch_size=10)
    for doc in docs:
        expected.docs[doc["id"]] = (doc["text"], doc["metadata"])
    assert server.stop() == 0


def test_full_disk_fails_writes_and_loses_nothing(start_server, tmp_path: Path, figures) -> None:
    data, expected = tmp_path / "data", Expected("docs", exact=True)
    _fill(start_server, data, expected, 40)
    store = data / "docs" / "store.sqlite3"
    limit = max(path.stat().st_size for path in (data / "docs").iterdir()) + HEADROOM
    server = start_server(data, fsize=limit)
    failures: list[SimsearchError] = []
    with Client(server.address, timeout=30.0) as client:
        for i in range(1000, 1200):
            doc = _document(i)
            try:
                client.upsert("docs", [doc])
            except SimsearchError as exc:
                failures.append(exc)
                with pytest.raises(NotFoundError):
                    client.get("docs", [doc["id"]])  # the failed write left nothing behind
                if len(failures) == 3:
                    break
            else:
                expected.docs[doc["id"]] = (doc["text"], doc["metadata"])
        acknowledged_under_limit = len(expected.docs) - 40
        assert failures, f"{acknowledged_under_limit} writes fit under a {limit}-byte limit"
        try:
            assert client.delete("docs", ["d0"]) == 1
            expected.docs.pop("d0")
        except SimsearchError as exc:
            failures.append(exc)
        checked = verify_collection(client, data, expected)  # reads and search still work
    for failure in failures:
        assert isinstance(failure, UnavailableError), repr(failure)
    figures.update(
        method=f"RLIMIT_FSIZE={limit} (store {store.stat().st_size} bytes)",
        acknowledged_before=40,
        acknowledged_under_limit=acknowledged_under_limit,
        failed_writes=len(failures),
        first_error=str(failures[0])[:200],
        ids_checked_while_full=checked,
    )
    assert "Traceback" not in server.log() and "internal error" not in server.log()
    assert server.stop() == 0
    restarted = start_server(data)
    with Client(restarted.address) as client:
        figures["ids_checked_after_restart"] = verify_collection(client, data, expected)
        client.upsert("docs", [_document(2000)])  # the disk has room again: writes work
        assert client.describe_collection("docs").count == len(expected.docs) + 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permission bits")
def test_read_only_directory_refuses_writes_or_start(start_server, tmp_path: Path, figures) -> None:
    data, expected = tmp_path / "data", Expected("docs", exact=True)
    _fill(start_server, data, expected, 20)
    folder = data / "docs"
    for path in folder.iterdir():
        path.chmod(stat.S_IRUSR)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        server = start_server(data, ready=False)
        try:
            server.wait_ready()
        except ServerExitedError as exc:
            figures["outcome"] = "refused to start"
            assert exc.status not in (None, 0) and str(folder / "store.sqlite3") in exc.log
            return
        with Client(server.address) as client:
            with pytest.raises(UnavailableError):
                client.upsert("docs", [_document(100)])
            cause = client.describe_collection("docs").unavailable
            if cause:  # it could not even be opened: reported unavailable, not served
                figures["outcome"] = f"started; the collection is unavailable: {cause}"
                assert str(folder / "store.sqlite3") in cause, cause
                return
            verify_collection(client, data, expected)
        figures["outcome"] = "started; writes refused with UNAVAILABLE"
    finally:
        folder.chmod(stat.S_IRWXU)
        for path in folder.iterdir():
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)
