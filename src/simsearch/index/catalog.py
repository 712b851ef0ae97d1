"""FaissCatalog: the collections under one data directory.

Layout: ``data_dir/<name>/store.sqlite3`` (with its WAL files) and ``data_dir/<name>/index.faiss``.
A directory is a collection when it holds a store. Creating is atomic: the store is created and
committed in a hidden ``.creating-<uuid>`` directory, which is then renamed to ``<name>`` and the
data directory fsynced, so after a crash there is either no collection or a complete one.
Dropping renames ``<name>`` to a hidden ``.dropped-<uuid>`` before deleting the files. Hidden
leftovers of a crash are deleted when a catalog opens the data directory.

One process owns a data directory. Collections open lazily and stay open until :meth:`drop` or
:meth:`close`. Thread-safe: one lock guards the set of open collections (opening a large
collection that must be rebuilt holds it).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from simsearch.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from simsearch.index.collection import STORE_FILE, FaissCollection
from simsearch.index.kinds import IndexKind
from simsearch.index.snapshot import fsync_directory
from simsearch.types import CollectionSpec

__all__ = ["FaissCatalog"]

_CREATING = ".creating-"
_DROPPED = ".dropped-"


class FaissCatalog:
    """Collections of documents and FAISS indexes under ``data_dir`` (the ``Catalog`` protocol).

    checkpoint_every: documents changed (inserted plus deleted) between index snapshots, or a
        quarter of the collection's documents when that is more; a crash costs at most a
        replay of that many store rows on the next open.
    busy_timeout: seconds a store write waits for a lock held by another process (a backup,
        the sqlite3 shell) before it fails with UnavailableError.
    """

    def __init__(
        self, data_dir: Path, *, checkpoint_every: int = 10_000, busy_timeout: float = 5.0
    ) -> None:
        if checkpoint_every <= 0:
            raise ValueError(f"checkpoint_every must be positive, got {checkpoint_every}")
        self._root = Path(data_dir)
        self._checkpoint_every = checkpoint_every
        self._busy_timeout = busy_timeout
        self._open: dict[str, FaissCollection] = {}
        self._lock = threading.Lock()
        self._closed = False
        with _filesystem(f"open the data directory {self._root}"):
            self._root.mkdir(parents=True, exist_ok=True)
            _remove_leftovers(self._root)

    def create(self, spec: CollectionSpec) -> FaissCollection:
        """Create and open. AlreadyExistsError if the name is taken; InvalidArgumentError
        (nothing on disk) if FAISS cannot build ``spec.index`` for ``spec.dimension``."""
        _check_name(spec.name)
        IndexKind.parse(spec.index, spec.dimension)
        with self._locked():
            if self._exists(spec.name):
                raise AlreadyExistsError(f"collection {spec.name!r} already exists")
            self._make(spec)
            return self._load(spec.name)

    def open(self, name: str) -> FaissCollection:
        """The open collection (opened on first use). NotFoundError if unknown."""
        _check_name(name)
        with self._locked():
            if name in self._open:
                return self._open[name]
            if not self._exists(name):
                raise NotFoundError(f"collection {name!r} does not exist")
            return self._load(name)

    def drop(self, name: str) -> None:
        """Close the collection and delete its files. NotFoundError if unknown."""
        _check_name(name)
        with self._locked():
            collection = self._open.pop(name, None)
            if collection is None and not self._exists(name):
                raise NotFoundError(f"collection {name!r} does not exist")
            if collection is not None:
                collection.discard()
            trash = self._root / f"{_DROPPED}{uuid.uuid4().hex}"
            with _filesystem(f"drop collection {name!r}"):
                os.rename(self._root / name, trash)
                fsync_directory(self._root)
            shutil.rmtree(trash, ignore_errors=True)

    def names(self) -> list[str]:
        """Names of all collections, sorted."""
        with self._locked(), _filesystem("list collections"):
            return sorted(
                entry.name
                for entry in self._root.iterdir()
                if not entry.name.startswith(".") and self._exists(entry.name)
            )

    def close(self) -> None:
        """Close every open collection (each writes its snapshot if it changed). Idempotent."""
        with self._lock:
            self._closed = True
            for collection in self._open.values():
                collection.close()
            self._open.clear()

    def _exists(self, name: str) -> bool:
        return (self._root / name / STORE_FILE).is_file()

    def _make(self, spec: CollectionSpec) -> None:
        building = self._root / f"{_CREATING}{uuid.uuid4().hex}"
        with _filesystem(f"create collection {spec.name!r}"):
            try:
                building.mkdir()
                FaissCollection.initialise(building, spec, time.time(), uuid.uuid4().hex)
                fsync_directory(building)
                _remove(self._root / spec.name)  # a directory without a store is no collection
                os.rename(building, self._root / spec.name)
                fsync_directory(self._root)
            except BaseException:
                shutil.rmtree(building, ignore_errors=True)
                raise

    def _load(self, name: str) -> FaissCollection:
        collection = FaissCollection.open(
            self._root / name,
            checkpoint_every=self._checkpoint_every,
            busy_timeout=self._busy_timeout,
        )
        self._open[name] = collection
        return collection

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            if self._closed:
                raise UnavailableError("the collection catalog is closed")
            yield


def _check_name(name: str) -> None:
    """The engine validates names; refuse anything that is not one plain directory name."""
    if (
        not isinstance(name, str)
        or not name
        or name.startswith(".")
        or any(char in name for char in "/\\\0")
        or len(name.encode()) > 255
    ):
        raise InvalidArgumentError(f"invalid collection name {name!r}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _remove_leftovers(root: Path) -> None:
    for entry in root.iterdir():
        if entry.name.startswith((_CREATING, _DROPPED)):
            shutil.rmtree(entry, ignore_errors=True)


@contextmanager
def _filesystem(action: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise UnavailableError(f"could not {action}: {exc}") from exc
