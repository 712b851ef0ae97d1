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

A collection that cannot be opened (a damaged store, an index kind FAISS cannot run, a snapshot
newer than its store, unreadable files, any error while opening) does not take the others down:
it is logged once (ERROR, naming the collection and the cause) and remembered as unavailable
until it is dropped or the process restarts. Every later :meth:`open` of it raises
UnavailableError with the cause, without touching its files again: retrying at each request
would rerun ``quick_check`` over a possibly large store and log the same error at every call,
and opening files while someone repairs them could serve a half-repaired collection. So the
way back is "repair, then restart", or :meth:`drop`. :meth:`unavailable` describes it with the
spec read from its store when the store can still be read (read-only: the files are left as
they are, for whoever repairs them).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
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
    SimsearchError,
    UnavailableError,
)
from simsearch.index.collection import STORE_FILE, FaissCollection, check_index
from simsearch.index.permissions import make_private_directory
from simsearch.index.snapshot import fsync_directory
from simsearch.index.store import Store
from simsearch.types import CollectionInfo, CollectionSpec, Pooling, is_collection_name

__all__ = ["FaissCatalog"]

_CREATING = ".creating-"
_DROPPED = ".dropped-"

logger = logging.getLogger(__name__)


class FaissCatalog:
    """Collections of documents and FAISS indexes under ``data_dir`` (the ``Catalog`` protocol).

    checkpoint_every: documents changed (inserted plus deleted) between index snapshots, or a
        quarter of the collection's documents when that is more; a crash costs at most a
        replay of that many store rows on the next open.
    busy_timeout: seconds a store write waits for a lock held by another process (a backup,
        the sqlite3 shell) before it fails with UnavailableError.
    concurrent_search: searches of a collection run concurrently and unfiltered exact ones are
        gathered into one FAISS call (``collection``); False searches one at a time, as before
        (kept as the reference of ``bench/concurrency.py``).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        checkpoint_every: int = 10_000,
        busy_timeout: float = 5.0,
        concurrent_search: bool = True,
    ) -> None:
        if checkpoint_every <= 0:
            raise ValueError(f"checkpoint_every must be positive, got {checkpoint_every}")
        self._root = Path(data_dir)
        self._checkpoint_every = checkpoint_every
        self._busy_timeout = busy_timeout
        self._concurrent_search = concurrent_search
        self._open: dict[str, FaissCollection] = {}
        self._unavailable: dict[str, CollectionInfo] = {}
        self._lock = threading.Lock()
        self._closed = False
        with _filesystem(f"open the data directory {self._root}"):
            make_private_directory(self._root)
            _remove_leftovers(self._root)

    kind = "faiss"

    def create(self, spec: CollectionSpec) -> FaissCollection:
        """Create and open. AlreadyExistsError if the name is taken; InvalidArgumentError
        (nothing on disk) if FAISS cannot build ``spec.index`` for ``spec.dimension``."""
        _check_name(spec.name)
        check_index(spec)
        with self._locked():
            if spec.name in self._unavailable:
                raise AlreadyExistsError(
                    f"collection {spec.name!r} already exists and is unavailable "
                    f"({self._unavailable[spec.name].unavailable}); drop it first"
                )
            if self._exists(spec.name):
                raise AlreadyExistsError(f"collection {spec.name!r} already exists")
            self._make(spec)
            return self._load(spec.name)

    def open(self, name: str) -> FaissCollection:
        """The open collection (opened on first use). NotFoundError if unknown; UnavailableError
        naming the cause if it could not be opened, now or earlier (see :meth:`unavailable`)."""
        _check_name(name)
        with self._locked():
            if name in self._open:
                return self._open[name]
            if name in self._unavailable:
                raise _refusal(self._unavailable[name])
            if not self._exists(name):
                raise NotFoundError(f"collection {name!r} does not exist")
            return self._load(name)

    def unavailable(self, name: str) -> CollectionInfo | None:
        """What is known of a collection that could not be opened: ``unavailable`` says why,
        the spec and created_at come from its store when it can still be read (else the spec
        has only the name), count is 0. None when the collection is not known to be
        unavailable (it is open, was never opened, or does not exist)."""
        with self._lock:
            return self._unavailable.get(name)

    def drop(self, name: str) -> None:
        """Close the collection and delete its files (an unavailable one too). NotFoundError
        if unknown."""
        _check_name(name)
        with self._locked():
            self._unavailable.pop(name, None)
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
        """Names of all collections, sorted (a folder whose name :meth:`open` would refuse is
        no collection: listing it would make every list fail)."""
        with self._locked(), _filesystem("list collections"):
            return sorted(
                entry.name
                for entry in self._root.iterdir()
                if is_collection_name(entry.name) and self._exists(entry.name)
            )

    def close(self) -> None:
        """Close every open collection (each writes its snapshot if it changed). Idempotent."""
        with self._lock:
            self._closed = True
            for collection in self._open.values():
                collection.close()
            self._open.clear()
            self._unavailable.clear()

    def _exists(self, name: str) -> bool:
        return (self._root / name / STORE_FILE).is_file()

    def _make(self, spec: CollectionSpec) -> None:
        building = self._root / f"{_CREATING}{uuid.uuid4().hex}"
        with _filesystem(f"create collection {spec.name!r}"):
            try:
                make_private_directory(building)
                FaissCollection.initialise(building, spec, time.time(), uuid.uuid4().hex)
                fsync_directory(building)
                _remove(self._root / spec.name)  # a directory without a store is no collection
                os.rename(building, self._root / spec.name)
                fsync_directory(self._root)
            except BaseException:
                shutil.rmtree(building, ignore_errors=True)
                raise

    def _load(self, name: str) -> FaissCollection:
        """Open ``name``; on any error remember it as unavailable (see the module docstring)
        and raise UnavailableError with the cause."""
        try:
            with _keeping_wal(self._root / name / STORE_FILE):
                collection = FaissCollection.open(
                    self._root / name,
                    checkpoint_every=self._checkpoint_every,
                    busy_timeout=self._busy_timeout,
                    concurrent=self._concurrent_search,
                )
        except Exception as exc:  # any failure: one collection never takes the others down
            info = _unavailable_info(self._root / name, _cause(name, exc))
            self._unavailable[name] = info
            logger.error(
                "collection %r is unavailable: %s",
                name,
                info.unavailable,
                exc_info=None if isinstance(exc, SimsearchError) else exc,  # a bug: traceback
            )
            raise _refusal(info) from None
        self._open[name] = collection
        return collection

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            if self._closed:
                raise UnavailableError("the collection catalog is closed")
            yield


def _check_name(name: str) -> None:
    """The engine refuses other names first; the catalog still refuses any name but a plain
    folder name (the name rule implies one), whoever calls it."""
    if not is_collection_name(name):
        raise InvalidArgumentError(f"invalid collection name {name!r}")


def _cause(name: str, exc: Exception) -> str:
    """The error's message without a leading "collection 'name': " (the name is said once by
    whoever shows the cause); the exception's type too for an unexpected error."""
    text = str(exc).strip() or "no message"
    prefix = f"collection {name!r}: "
    text = text[len(prefix) :] if text.startswith(prefix) else text
    return text if isinstance(exc, SimsearchError) else f"{type(exc).__name__}: {text}"


def _refusal(info: CollectionInfo) -> UnavailableError:
    return UnavailableError(
        f"collection {info.spec.name!r} is unavailable: {info.unavailable}. It serves nothing "
        "until it is repaired and the server restarted; dropping it deletes its files"
    )


@contextmanager
def _keeping_wal(store: Path) -> Iterator[None]:
    """While ``store`` is opened, hold a read-only connection to it if it has a WAL with
    commits in it, so that a failed open leaves the files as they were.

    Closing the last connection to a WAL database checkpoints the WAL into the main file and
    deletes it. A collection that fails to open after its store opened (a lost WAL tail is
    found by comparing the store with the snapshot) would then have its store rewritten and
    its WAL, with any frames SQLite skipped, deleted: data someone could still recover. SQLite
    checkpoints on close only when no other connection has the file open, and a read-only
    connection never does (Python 3.11's sqlite3 cannot set SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE).
    Only the ``-shm`` index, rebuilt from the WAL, may change. Best effort: without a
    readable store nothing is held, and nothing could be checkpointed either.
    """
    wal = store.with_name(f"{store.name}-wal")
    guard = None
    try:
        if wal.is_file() and wal.stat().st_size > 0:
            guard = sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True)
            guard.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except (OSError, sqlite3.Error) as exc:
        logger.debug("%s: not held open while it opens: %s", store, exc)
    try:
        yield
    finally:
        if guard is not None:
            guard.close()


def _unavailable_info(directory: Path, cause: str) -> CollectionInfo:
    """An unavailable collection's info: the spec from its store when it can still be read."""
    spec = CollectionSpec(
        name=directory.name,
        pooling=Pooling.POOLER,
        index="",
        dimension=0,
        model_name="",
        model_fingerprint="",
    )
    created_at = 0.0
    path = directory / STORE_FILE
    try:
        # immutable: no lock, no -wal/-shm opened or created, nothing written; the spec is
        # written once, at creation, so the main file holds it even with a WAL beside it
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            meta = Store(db, directory.name, path).meta
            spec, created_at = meta.spec, meta.created_at
        finally:
            db.close()
    except Exception as exc:  # best effort: a damaged store may not even have a readable meta
        logger.debug("collection %r: no spec from the store: %s", directory.name, exc)
    return CollectionInfo(spec=spec, count=0, created_at=created_at, unavailable=cause)


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
