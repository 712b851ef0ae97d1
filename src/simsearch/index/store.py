"""The durable store of one collection: SQLite in WAL mode, the source of truth.

Tables::

    meta(key, value)          schema, spec (JSON), created_at, uid, last_change
    docs(label INTEGER PRIMARY KEY AUTOINCREMENT, id UNIQUE, text, metadata JSON,
         embedding BLOB (d float32, little-endian), change)
    tombstones(label, born, change)   labels deleted by change ``change``, inserted by ``born``
    tokens(label PRIMARY KEY, kinds BLOB (n uint8), vectors BLOB (n x d float16, little-endian))
                              a document's token embeddings, when ``spec.store_tokens``

Token vectors live in their own table keyed by the document's label, so scans of ``docs``
(filters, replay) never page through them; they are written, replaced and deleted in the same
transaction as their document, so a document never exists without its tokens. Stores created
before the tokens table existed have ``store_tokens`` False in their spec and no such table.

Every write is one ``BEGIN IMMEDIATE ... COMMIT`` transaction that bumps ``last_change`` and
returns only after COMMIT; ``synchronous=FULL`` makes a returned commit survive a crash or power
loss. Replacing an id deletes its row (a tombstone for its label) and inserts a new row with a
new label; AUTOINCREMENT never reuses a label. Tombstones exist for snapshot replay and are
pruned once a snapshot covers them.

Storage failures (locked, read-only, disk full, I/O error) raise ``UnavailableError``; the
transaction is rolled back, so nothing is half-written. Not thread-safe: the collection's lock
guards the connection (opened with ``check_same_thread=False``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simsearch.errors import InternalError, UnavailableError
from simsearch.types import CollectionSpec, FloatArray, IntArray, Pooling

__all__ = ["TOKEN_KIND", "TOKEN_VECTOR", "Change", "Meta", "Row", "Store", "TokenBlobs"]

SCHEMA = 1
TOKEN_VECTOR = np.dtype("<f2")
TOKEN_KIND = np.dtype("u1")
_BATCH = 8192
_EMBEDDING = np.dtype("<f4")
_SCHEMA_SQL = """
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
CREATE TABLE tokens (label INTEGER PRIMARY KEY, kinds BLOB NOT NULL, vectors BLOB NOT NULL);
"""
_IN_JSON = "(SELECT value FROM json_each(?))"  # one bound JSON array instead of N parameters


@dataclass(frozen=True)
class TokenBlobs:
    """One document's token embeddings as stored: ``kinds`` n uint8, ``vectors`` n x d
    float16 LE bytes."""

    kinds: bytes
    vectors: bytes


@dataclass(frozen=True)
class Row:
    """A document ready to store: metadata as JSON text, embedding as float32 LE bytes, and
    its token embeddings when the collection stores them."""

    id: str
    text: str
    metadata: str
    embedding: bytes
    tokens: TokenBlobs | None = None


@dataclass(frozen=True)
class Change:
    """What one committed write did: its number, labels inserted, labels deleted."""

    number: int
    added: IntArray
    removed: IntArray


@dataclass(frozen=True)
class Meta:
    """What the store says the collection is."""

    spec: CollectionSpec
    created_at: float
    uid: str


class Store:
    """One collection's SQLite database. Use :meth:`initialise` once, then :meth:`open`."""

    def __init__(self, db: sqlite3.Connection, name: str, path: Path) -> None:
        self._db = db
        self._name = name
        self.path = path
        self.meta = self._read_meta()
        self.dimension = self.meta.spec.dimension
        self._stores_tokens = self.meta.spec.store_tokens
        self.last_change = self._read_last_change()

    @staticmethod
    def initialise(path: Path, spec: CollectionSpec, created_at: float, uid: str) -> None:
        """Create the database with its tables and meta, in one transaction."""
        meta = {
            "schema": SCHEMA,
            "spec": {**asdict(spec), "pooling": spec.pooling.value},
            "created_at": created_at,
            "uid": uid,
            "last_change": 0,
        }
        db = _connect(path, timeout=5.0)
        try:
            with _guard(spec.name, "create the store"):
                db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA_SQL}")
                db.executemany("INSERT INTO meta VALUES (?, ?)", _json_items(meta))
                db.execute("COMMIT")
        finally:
            db.close()

    @classmethod
    def open(cls, path: Path, name: str, *, timeout: float) -> Store:
        """Open an initialised store; UnavailableError if it is missing or unreadable."""
        if not path.is_file():
            raise UnavailableError(f"collection {name!r}: its store {path.name} is missing")
        with _guard(name, f"open the store {path}"):
            db = _connect(path, timeout=timeout)
        try:
            with _guard(name, f"read the store {path}"):
                _check_intact(db, name, path)
                return cls(db, name, path)
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        self._db.close()

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, rows: Sequence[Row]) -> Change:
        """Insert or replace ``rows`` (unique ids) in one committed transaction."""
        with self._transaction("write documents") as number:
            removed = self._unlink([row.id for row in rows], number)
            added = [self._insert(row, number) for row in rows]
        return Change(number, np.array(added, dtype=np.int64), removed)

    def delete(self, ids: Sequence[str]) -> Change:
        """Delete the rows of ``ids`` that exist; no transaction when none does."""
        if not self._existing(ids):
            return Change(self.last_change, _no_labels(), _no_labels())
        with self._transaction("delete documents") as number:
            removed = self._unlink(ids, number)
        return Change(number, _no_labels(), removed)

    def prune_tombstones(self, through: int) -> None:
        """Forget tombstones of changes ``<= through`` (a snapshot includes them)."""
        with _guard(self._name, "prune tombstones"):
            self._db.execute("DELETE FROM tombstones WHERE change <= ?", (through,))

    # -- reads ------------------------------------------------------------------------------

    def count(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM docs")[0])

    def resync(self) -> bool:
        """After a failed write, re-read ``last_change``; True if that write's COMMIT reached
        the disk after all (the caller then rebuilds what it derived from the store)."""
        with _guard(self._name, "read the store"):
            on_disk = self._read_last_change()
        advanced, self.last_change = on_disk != self.last_change, on_disk
        return advanced

    def documents(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """id -> (text, metadata JSON) for the ids that exist."""
        sql = f"SELECT id, text, metadata FROM docs WHERE id IN {_IN_JSON}"
        return {row[0]: (row[1], row[2]) for row in self._all(sql, _json(ids))}

    def token_blobs(self, ids: Sequence[str]) -> dict[str, TokenBlobs]:
        """id -> stored token embeddings for the ids that exist, in one query."""
        sql = (
            "SELECT docs.id, tokens.kinds, tokens.vectors FROM docs "
            f"JOIN tokens ON tokens.label = docs.label WHERE docs.id IN {_IN_JSON}"
        )
        return {row[0]: TokenBlobs(row[1], row[2]) for row in self._all(sql, _json(ids))}

    def embeddings_by_id(self, ids: Sequence[str]) -> dict[str, FloatArray]:
        sql = f"SELECT id, embedding FROM docs WHERE id IN {_IN_JSON}"
        return {row[0]: self._vector(row[1]) for row in self._all(sql, _json(ids))}

    def hits(self, labels: IntArray) -> dict[int, tuple[str, str, str]]:
        """label -> (id, text, metadata JSON) for the labels that exist."""
        sql = f"SELECT label, id, text, metadata FROM docs WHERE label IN {_IN_JSON}"
        return {row[0]: row[1:] for row in self._all(sql, _json(labels.tolist()))}

    def labels_where(self, where: str, params: Sequence[Any]) -> IntArray:
        """Labels of the documents matching an SQL condition on ``docs`` (see ``filters``)."""
        rows = self._all(f"SELECT label FROM docs WHERE {where}", *params)
        return np.array([row[0] for row in rows], dtype=np.int64)

    def embeddings_by_label(self, labels: IntArray) -> tuple[IntArray, FloatArray]:
        """``(labels (n,) int64, embeddings (n, d) float32)`` for the labels that exist."""
        sql = f"SELECT label, embedding FROM docs WHERE label IN {_IN_JSON} ORDER BY label"
        return self._stack(self._all(sql, _json(labels.tolist())))

    def embeddings_since(self, change: int) -> Iterator[tuple[IntArray, FloatArray]]:
        """Batches of ``(labels, embeddings)`` of rows written after ``change``, by label."""
        sql = "SELECT label, embedding FROM docs WHERE change > ? ORDER BY label"
        with _guard(self._name, "read embeddings"):
            cursor = self._db.execute(sql, (change,))
            while batch := cursor.fetchmany(_BATCH):
                yield self._stack(batch)

    def tombstones_since(self, change: int) -> IntArray:
        """Labels that existed at ``change`` and were deleted after it."""
        sql = "SELECT label FROM tombstones WHERE change > ? AND born <= ?"
        return np.array([row[0] for row in self._all(sql, change, change)], dtype=np.int64)

    def sample_embeddings(self, size: int, seed: int = 0) -> FloatArray:
        """Up to ``size`` stored embeddings ``(n, d) float32`` drawn at random (for training)."""
        labels = np.array([row[0] for row in self._all("SELECT label FROM docs")], np.int64)
        if len(labels) > size:
            labels = np.random.default_rng(seed).choice(labels, size, replace=False)
        return self.embeddings_by_label(labels)[1]

    # -- internals --------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, action: str) -> Iterator[int]:
        number = self.last_change + 1
        with _guard(self._name, action, changed=False):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield number
                self._db.execute(
                    "UPDATE meta SET value = ? WHERE key = 'last_change'", (str(number),)
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        self.last_change = number

    def _rollback(self) -> None:
        if self._db.in_transaction:
            with suppress(sqlite3.Error):  # SQLite may have rolled back (e.g. SQLITE_FULL)
                self._db.execute("ROLLBACK")

    def _unlink(self, ids: Sequence[str], number: int) -> IntArray:
        sql = f"SELECT label, change FROM docs WHERE id IN {_IN_JSON}"
        old = self._db.execute(sql, (_json(ids),)).fetchall()
        if old:
            self._db.executemany(
                "INSERT INTO tombstones (label, born, change) VALUES (?, ?, ?)",
                [(label, born, number) for label, born in old],
            )
            labels = _json([label for label, _ in old])
            self._db.execute(f"DELETE FROM docs WHERE label IN {_IN_JSON}", (labels,))
            if self._stores_tokens:
                self._db.execute(f"DELETE FROM tokens WHERE label IN {_IN_JSON}", (labels,))
        return np.array([label for label, _ in old], dtype=np.int64)

    def _insert(self, row: Row, number: int) -> int:
        cursor = self._db.execute(
            "INSERT INTO docs (id, text, metadata, embedding, change) VALUES (?, ?, ?, ?, ?) "
            "RETURNING label",
            (row.id, row.text, row.metadata, row.embedding, number),
        )
        label = int(cursor.fetchone()[0])
        if row.tokens is not None:
            self._db.execute(
                "INSERT INTO tokens (label, kinds, vectors) VALUES (?, ?, ?)",
                (label, row.tokens.kinds, row.tokens.vectors),
            )
        return label

    def _existing(self, ids: Sequence[str]) -> bool:
        return bool(self._all(f"SELECT 1 FROM docs WHERE id IN {_IN_JSON} LIMIT 1", _json(ids)))

    def _read_meta(self) -> Meta:
        rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if rows.get("schema") != str(SCHEMA):
            raise UnavailableError(
                f"collection {self._name!r}: the store has schema {rows.get('schema')!r}, "
                f"this simsearch reads schema {SCHEMA}"
            )
        try:
            return _parse_meta(rows, self._name)
        except (KeyError, TypeError, ValueError) as exc:
            raise UnavailableError(f"collection {self._name!r}: unreadable meta: {exc}") from None

    def _read_last_change(self) -> int:
        return int(self._one("SELECT value FROM meta WHERE key = 'last_change'")[0])

    def _vector(self, blob: bytes) -> FloatArray:
        return np.frombuffer(blob, dtype=_EMBEDDING).astype(np.float32)

    def _stack(self, rows: Sequence[tuple[int, bytes]]) -> tuple[IntArray, FloatArray]:
        labels = np.array([row[0] for row in rows], dtype=np.int64)
        joined = np.frombuffer(b"".join(row[1] for row in rows), dtype=_EMBEDDING)
        return labels, joined.astype(np.float32).reshape(len(rows), self.dimension)

    def _all(self, sql: str, *params: Any) -> list[Any]:
        with _guard(self._name, "read the store"):
            return self._db.execute(sql, params).fetchall()

    def _one(self, sql: str) -> Any:
        return self._all(sql)[0]


def _parse_meta(rows: dict[str, str], name: str) -> Meta:
    spec = json.loads(rows["spec"])
    spec["pooling"] = Pooling(spec["pooling"])
    spec.setdefault("store_tokens", False)  # written before collections could store tokens
    if not isinstance(spec["store_tokens"], bool):
        raise TypeError(f"store_tokens is {spec['store_tokens']!r}")
    spec["name"] = name  # the directory's name wins if it was renamed
    return Meta(CollectionSpec(**spec), float(rows["created_at"]), str(json.loads(rows["uid"])))


def _connect(path: Path, *, timeout: float) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    return db


def _check_intact(db: sqlite3.Connection, name: str, path: Path) -> None:
    """``PRAGMA quick_check`` (reads every page: 0.2-0.6 s for 100k documents of d=384): a damaged
    store stops the open rather than serving wrong or missing rows."""
    problems = [" ".join(str(row[0]).split()) for row in db.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise UnavailableError(
            f"collection {name!r}: the store {path} is damaged ({'; '.join(problems)}); "
            "restore it from a backup, or move the collection's folder out of the data directory"
        )


@contextmanager
def _guard(name: str, action: str, *, changed: bool = True) -> Iterator[None]:
    """Turn storage failures into UnavailableError; programming errors stay loud."""
    try:
        yield
    except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError) as exc:
        raise InternalError(f"collection {name!r}: could not {action}: {exc}") from exc
    except sqlite3.Error as exc:
        outcome = "" if changed else "; nothing was changed"
        raise UnavailableError(f"collection {name!r}: could not {action} ({exc}){outcome}") from exc


def _json(values: Sequence[Any]) -> str:
    return json.dumps(list(values))


def _json_items(values: dict[str, Any]) -> list[tuple[str, str]]:
    return [(key, json.dumps(value)) for key, value in values.items()]


def _no_labels() -> IntArray:
    return np.zeros(0, dtype=np.int64)
