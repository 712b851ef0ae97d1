"""A private, verified on-disk cache of converted models: one directory per key.

Layout: ``<root>/<key>/`` holds the files a builder wrote and ``manifest.json``, which lists
each file's size and sha256. An entry is read whole and checked against its manifest before
anything is served from it, so what is verified is exactly what is used: a missing, truncated
or altered file (or manifest) makes the entry damaged, and a damaged entry is removed (with a
warning) and rebuilt, never served.

An entry is written atomically: into a fresh private temporary directory under ``root``, then
renamed into place, so a reader sees a whole entry or none (a crash mid-write leaves only a
``.<key>.*`` temporary directory, removed by a later store of that key once it is an hour old).
Two processes storing the same key at once both convert; the first rename wins and the other
discards its copy. Private like the collections (``simsearch.private_files``): directories
created here are 0700 and files 0600 whatever the umask.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from simsearch.private_files import PRIVATE_FILE, make_private_directories, open_private_file

__all__ = ["MANIFEST", "ModelCache"]

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_STALE_TEMPORARY_S = 3600.0


class DamagedEntryError(Exception):
    """A cache entry does not match its manifest."""


class ModelCache:
    """Converted models under ``root`` (created 0700, with its missing parents, on first
    store)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        return self._root

    def load(self, key: str) -> dict[str, bytes] | None:
        """The entry's files (name -> bytes, manifest excluded), verified; None when there is
        no entry or it was damaged (then it is removed, with a warning)."""
        directory = self._entry(key)
        if not directory.is_dir():
            return None
        try:
            return _verified_files(directory)
        except (OSError, ValueError, KeyError, TypeError, DamagedEntryError) as exc:
            logger.warning("model cache entry %s is damaged (%s): rebuilding it", directory, exc)
            _remove(directory, self._root)
            return None

    def store(self, key: str, write: Callable[[Path], None]) -> Path | None:
        """Build the entry: ``write(directory)`` puts plain files in a private temporary
        directory, then the manifest is added and the directory renamed into place. Returns
        the entry's path, or None when it could not be stored (logged: the caller goes on
        with what it built in memory)."""
        directory = self._entry(key)
        try:
            make_private_directories(self._root)
            _remove_stale_temporaries(self._root, key)
            temporary = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self._root))  # 0700
        except OSError as exc:
            logger.warning("cannot write the model cache in %s (%s): not cached", self._root, exc)
            return None
        try:
            write(temporary)
            _write_manifest(temporary)
            os.rename(temporary, directory)
        except (OSError, RuntimeError) as exc:  # RuntimeError: openvino's save_model failing
            shutil.rmtree(temporary, ignore_errors=True)
            if directory.is_dir():  # another process stored it first: theirs is verified on use
                return directory
            logger.warning("cannot write the model cache entry %s (%s): not cached", directory, exc)
            return None
        return directory

    def _entry(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise ValueError(f"invalid model cache key {key!r}")
        return self._root / key


def _write_manifest(directory: Path) -> None:
    files = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.is_symlink():
            raise OSError(f"the model cache holds only plain files, got {path.name}")
        path.chmod(PRIVATE_FILE)
        data = path.read_bytes()
        files[path.name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    text = json.dumps({"files": files}, indent=2, sort_keys=True) + "\n"
    with open_private_file(directory / MANIFEST) as manifest:
        manifest.write(text.encode("utf-8"))


def _verified_files(directory: Path) -> dict[str, bytes]:
    listed = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))["files"]
    present = {path.name for path in directory.iterdir()} - {MANIFEST}
    if present != set(listed):
        raise DamagedEntryError(f"files {sorted(present)} differ from the manifest's")
    files = {}
    for name, expected in listed.items():
        data = (directory / name).read_bytes()
        if len(data) != expected["size"] or hashlib.sha256(data).hexdigest() != expected["sha256"]:
            raise DamagedEntryError(f"{name} does not match its sha256 in the manifest")
        files[name] = data
    return files


def _remove(directory: Path, root: Path) -> None:
    """Move the entry aside (one rename, so no reader sees it half gone), then delete it."""
    try:
        aside = Path(tempfile.mkdtemp(prefix=f".{directory.name}.damaged.", dir=root))
        os.rename(directory, aside / directory.name)
    except OSError:
        aside = directory
    shutil.rmtree(aside, ignore_errors=True)


def _remove_stale_temporaries(root: Path, key: str) -> None:
    cutoff = time.time() - _STALE_TEMPORARY_S
    for path in root.glob(f".{key}.*"):
        try:
            if path.lstat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue
