"""Who may read the data and the secrets: the server's user only.

Every directory simsearch creates under the data directory is 0700 and every file 0600 (store,
its WAL and shared-memory files, snapshot), whatever the umask; folders and files left 0755 /
0644 by older versions are tightened when their collection opens. The data directory itself is
created 0700 but left alone if it exists (with a warning). An API keys file or TLS private key
that other local users may open is reported at start.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import simsearch
from simsearch.index import FaissCatalog
from simsearch.types import Document
from support.security import StartServer
from unit.index_fixtures import spec, unit_vectors

from .certs import Pki

# Creates everything a running server creates, under the umask given, and prints the mode of
# every path below (and including) the data directory while the collection is still open.
CHILD = textwrap.dedent(
    """
    import json, os, stat, sys
    from pathlib import Path
    os.umask(int(sys.argv[2], 8))
    from simsearch.index import FaissCatalog
    from simsearch.server.app import lock_data_dir
    from simsearch.types import Document
    from unit.index_fixtures import spec, unit_vectors

    root = Path(sys.argv[1]) / "data"
    with lock_data_dir(root):
        catalog = FaissCatalog(root)
        collection = catalog.create(spec())
        collection.upsert([Document(f"d{i}", f"text {i}") for i in range(20)], unit_vectors(20, 1))
        collection.checkpoint()
        collection.upsert([Document("d0", "again")], unit_vectors(1, 2))  # WAL in use
        paths = [root, *sorted(root.rglob("*"))]
        print(json.dumps({str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode)
                          for p in paths}))
        catalog.close()
    """
)


def _run_child(directory: Path, umask: int) -> dict[str, int]:
    tests = Path(__file__).resolve().parents[1]
    source = Path(simsearch.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [source, tests]))}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(directory), f"{umask:o}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    modes: dict[str, int] = json.loads(result.stdout)
    return modes


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask-022", "umask-000"])
def test_everything_created_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    modes = _run_child(tmp_path, umask)
    expected = {
        ".",
        "docs",
        "docs/store.sqlite3",
        "docs/store.sqlite3-wal",
        "docs/store.sqlite3-shm",
        "docs/index.faiss",
    }
    assert expected <= set(modes), modes
    wrong = {
        path: f"{mode:04o}"
        for path, mode in modes.items()
        if mode != (0o700 if path in (".", "docs") else 0o600)
    }
    assert not wrong, f"not private: {wrong}"


def test_collections_of_older_versions_are_made_private(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "data"
    catalog = FaissCatalog(root)
    catalog.create(spec()).upsert(
        [Document(f"d{i}", f"text {i}") for i in range(5)], unit_vectors(5, 1)
    )
    catalog.close()
    root.chmod(0o755)  # as created by an older version under umask 022
    (root / "docs").chmod(0o755)
    for path in (root / "docs").iterdir():
        path.chmod(0o644)

    caplog.set_level(logging.WARNING)
    reopened = FaissCatalog(root)
    assert reopened.open("docs").get(["d1"])[0] is not None
    assert stat.S_IMODE((root / "docs").stat().st_mode) == 0o700
    for path in (root / "docs").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert f"{root / 'docs' / 'store.sqlite3'} had mode 0644" in caplog.text
    # The data directory may be shared on purpose (or be /tmp): only a warning.
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    assert f"the data directory {root} has mode 0755" in caplog.text
    reopened.close()


def _copy(source: Path, target: Path, mode: int) -> Path:
    shutil.copy(source, target)
    target.chmod(mode)
    return target


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604], ids=["0644", "0640", "0604"])
def test_secret_files_other_users_may_open_are_reported_at_start(
    start_server: StartServer,
    caplog: pytest.LogCaptureFixture,
    keys_file: Path,
    pki: Pki,
    tmp_path: Path,
    mode: int,
) -> None:
    keys = _copy(keys_file, tmp_path / "keys", mode)
    key = _copy(pki.server_key, tmp_path / "server.key", mode)
    caplog.set_level(logging.WARNING, logger="simsearch.server")
    start_server(api_keys_file=keys, tls_cert=pki.server_cert, tls_key=key)
    assert f"the API keys file {keys} has mode {mode:04o}" in caplog.text
    assert f"the TLS private key {key} has mode {mode:04o}" in caplog.text
    assert f"chmod 600 {keys}" in caplog.text


def test_private_secret_files_are_not_reported(
    start_server: StartServer,
    caplog: pytest.LogCaptureFixture,
    keys_file: Path,
    pki: Pki,
    tmp_path: Path,
) -> None:
    keys = _copy(keys_file, tmp_path / "keys", 0o600)
    key = _copy(pki.server_key, tmp_path / "server.key", 0o400)
    caplog.set_level(logging.WARNING, logger="simsearch.server")
    start_server(api_keys_file=keys, tls_cert=pki.server_cert, tls_key=key)
    assert not caplog.records, caplog.text
