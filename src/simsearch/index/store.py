"""The durable store of one collection: SQLite in WAL mode, the source of truth.

Tables::

    meta(key, value)          schema, spec (JSON), created_at, uid, last_change, and
                              calibration_fit (JSON, ``vector_calibration``) once fitted
    docs(label INTEGER PRIMARY KEY AUTOINCREMENT, id UNIQUE, text, metadata JSON,
         embedding BLOB (d float32, little-endian), change, content_crc, vector_crc)
    tombstones(label, born, change)   labels deleted by change ``change``, inserted by ``born``
    tokens(label PRIMARY KEY, kinds BLOB (n uint8), vectors BLOB (n x d float16, little-endian),
           crc)               a document's token embeddings, when ``spec.store_tokens``

Row checksums (``checksums``): written with each row in its commit, checked by every read that
serves a row (Get, Export, search hits, stored vectors and token vectors, replay and rebuilds).
A row that fails its check is never served: the read raises ``DataLossError`` naming the
collection and the id, and logs it. Upserting the id again, or deleting it, replaces the
damaged row. Labels are picked before the insert (as AUTOINCREMENT would: one more than the
largest ever used), because the checksums cover them. Schema 1 stores, from before the
checksums, are migrated when they open: the columns are added and every row's checksums
computed in one transaction (it rewrites each row once: 7-8 s for 100,000 rows of d=384 on a
busy 2-core machine, and a WAL as large as the table until SQLite's next checkpoint). A row
damaged before the migration cannot be told from a good one.

Token vectors live in their own table keyed by the document's label, so scans of ``docs``
(filters, replay) never page through them; they are written, replaced and deleted in the same
transaction as their document, so a document never exists without its tokens. Stores created
before the tokens table existed have ``store_tokens`` False in their spec and had no such table
(the migration to schema 2 creates it, empty).

Every write is one ``BEGIN IMMEDIATE ... COMMIT`` transaction that bumps ``last_change`` and
returns only after COMMIT; ``synchronous=FULL`` makes a returned commit survive a crash or power
loss. Replacing an id deletes its row (a tombstone for its label) and inserts a new row with a
new label; a label is never reused. Tombstones exist for snapshot replay and are
pruned once a snapshot covers them.

Storage failures (locked, read-only, disk full, I/O error) raise ``UnavailableError``; the
transaction is rolled back, so nothing is half-written. Not thread-safe: the collection's lock
guards the connection (opened with ``check_same_thread=False``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simsearch.errors import DataLossError, InternalError, UnavailableError
from simsearch.index.checksums import (
    content_crc,
    content_crc_of_bytes,
    decode_text,
    tokens_crc,
    vector_crc,
)
from simsearch.index.permissions import create_private_file
from simsearch.types import (
    Calibration,
    CalibrationKind,
    CollectionSpec,
    FloatArray,
    IntArray,
    Pooling,
)

__all__ = ["TOKEN_KIND", "TOKEN_VECTOR", "Change", "DocumentRow", "Meta", "Store", "TokenBlobs"]

SCHEMA = 2  # 1: no row checksums (migrated on open)
TOKEN_VECTOR = np.dtype("<f2")
TOKEN_KIND = np.dtype("u1")
_BATCH = 8192
_EMBEDDING = np.dtype("<f4")
_FIT_KEY = "calibration_fit"  # meta: the fitted calibration, absent until the first fit
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
# Schema 2, for new stores and migrated ones alike (so both have exactly the same tables).
_CHECKSUM_SQL = [
    "CREATE TABLE IF NOT EXISTS tokens "
    "(label INTEGER PRIMARY KEY, kinds BLOB NOT NULL, vectors BLOB NOT NULL)",
    "ALTER TABLE docs ADD COLUMN content_crc INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE docs ADD COLUMN vector_crc INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE tokens ADD COLUMN crc INTEGER NOT NULL DEFAULT 0",
]
_FILL_CHECKSUMS_SQL = [
    "UPDATE docs SET content_crc = content_crc(label, CAST(id AS BLOB), CAST(text AS BLOB), "
    "CAST(metadata AS BLOB)), vector_crc = vector_crc(label, embedding)",
    "UPDATE tokens SET crc = tokens_crc(label, kinds, vectors)",
]
_CONTENT = "label, id, text, metadata, content_crc"  # a row's served values and their check
_VECTOR = "label, embedding, vector_crc"
_IN_JSON = "(SELECT value FROM json_each(?))"  # one bound JSON array instead of N parameters
_UNDECODABLE = "Could not decode to UTF-8"  # how sqlite3 reports TEXT that is not UTF-8

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenBlobs:
    """One document's token embeddings as stored: ``kinds`` n uint8, ``vectors`` n x d
    float16 LE bytes."""

    kinds: bytes
    vectors: bytes


@dataclass(frozen=True)
class DocumentRow:
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
        create_private_file(path)  # 0600: SQLite gives the -wal and -shm files its mode
        db = _connect(path, timeout=5.0)
        try:
            with _guard(spec.name, "create the store"):
                db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA_SQL}; {'; '.join(_CHECKSUM_SQL)};")
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
            with _guard(name, f"add row checksums to the store {path}", changed=False):
                _migrate(db, name, path)
            with _guard(name, f"read the store {path}"):
                return cls(db, name, path)
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        self._db.close()

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, rows: Sequence[DocumentRow]) -> Change:
        """Insert or replace ``rows`` (unique ids) in one committed transaction."""
        with self._transaction("write documents") as number:
            removed = self._unlink([row.id for row in rows], number)
            added = self._insert(rows, number)
        return Change(number, added, removed)

    def delete(self, ids: Sequence[str]) -> Change:
        """Delete the rows of ``ids`` that exist; no transaction when none does."""
        if not self._existing(ids):
            return Change(self.last_change, _no_labels(), _no_labels())
        with self._transaction("delete documents") as number:
            removed = self._unlink(ids, number)
        return Change(number, _no_labels(), removed)

    def save_fit(self, fit: str) -> None:
        """Replace the collection's calibration fit (JSON text, ``vector_calibration``) in one
        committed transaction; ``last_change`` is unchanged (no document changed)."""
        with _guard(self._name, "save the calibration fit", changed=False):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_FIT_KEY, fit)
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def prune_tombstones(self, through: int) -> None:
        """Forget tombstones of changes ``<= through`` (a snapshot includes them)."""
        with _guard(self._name, "prune tombstones"):
            self._db.execute("DELETE FROM tombstones WHERE change <= ?", (through,))

    # -- reads ------------------------------------------------------------------------------

    def count(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM docs")[0])

    def fit(self) -> str | None:
        """The committed calibration fit (JSON text), None before the first fit."""
        rows = self._all("SELECT value FROM meta WHERE key = ?", _FIT_KEY)
        return str(rows[0][0]) if rows else None

    def resync(self) -> bool:
        """After a failed write, re-read ``last_change``; True if that write's COMMIT reached
        the disk after all (the caller then rebuilds what it derived from the store)."""
        with _guard(self._name, "read the store"):
            on_disk = self._read_last_change()
        advanced, self.last_change = on_disk != self.last_change, on_disk
        return advanced

    def documents(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """id -> (text, metadata JSON) for the ids that exist. DataLossError (all methods that
        return stored values): a row failed its checksum."""
        sql = f"SELECT {_CONTENT} FROM docs WHERE id IN {_IN_JSON}"
        return {row[1]: (row[2], row[3]) for row in self._contents(sql, _json(ids))}

    def documents_after(self, after_id: str, limit: int) -> list[tuple[str, str, str]]:
        """(id, text, metadata JSON) of up to ``limit`` rows whose id sorts after ``after_id``,
        in id order: a keyset page over the id's UNIQUE index. SQLite compares TEXT with
        memcmp over UTF-8 (the BINARY collation), which is Unicode code point order."""
        sql = f"SELECT {_CONTENT} FROM docs WHERE id > ? ORDER BY id LIMIT ?"
        return [row[1:4] for row in self._contents(sql, after_id, limit)]

    def token_blobs(self, ids: Sequence[str]) -> dict[str, TokenBlobs]:
        """id -> stored token embeddings for the ids that exist, in one query."""
        sql = (
            "SELECT tokens.label, tokens.kinds, tokens.vectors, tokens.crc, docs.id FROM docs "
            f"JOIN tokens ON tokens.label = docs.label WHERE docs.id IN {_IN_JSON}"
        )
        found: dict[str, TokenBlobs] = {}
        for label, kinds, vectors, crc, doc_id in self._all(sql, _json(ids)):
            if tokens_crc(label, kinds, vectors) != crc:
                raise self._damaged(label, "token embeddings")
            found[doc_id] = TokenBlobs(kinds, vectors)
        return found

    def embeddings_by_id(self, ids: Sequence[str]) -> dict[str, FloatArray]:
        sql = f"SELECT {_VECTOR}, id FROM docs WHERE id IN {_IN_JSON}"
        rows = self._all(sql, _json(ids))
        self._check_vectors(rows)
        return {row[3]: self._vector(row[1]) for row in rows}

    def hits(self, labels: IntArray) -> dict[int, tuple[str, str, str]]:
        """label -> (id, text, metadata JSON) for the labels that exist."""
        sql = f"SELECT {_CONTENT} FROM docs WHERE label IN {_IN_JSON}"
        return {row[0]: row[1:4] for row in self._contents(sql, _json(labels.tolist()))}

    def labels_where(self, where: str, params: Sequence[Any]) -> IntArray:
        """Labels of the documents matching an SQL condition on ``docs`` (see ``filters``)."""
        rows = self._all(f"SELECT label FROM docs WHERE {where}", *params)
        return np.array([row[0] for row in rows], dtype=np.int64)

    def embeddings_by_label(self, labels: IntArray) -> tuple[IntArray, FloatArray]:
        """``(labels (n,) int64, embeddings (n, d) float32)`` for the labels that exist."""
        sql = f"SELECT {_VECTOR} FROM docs WHERE label IN {_IN_JSON} ORDER BY label"
        return self._stack(self._all(sql, _json(labels.tolist())))

    def embeddings_since(self, change: int) -> Iterator[tuple[IntArray, FloatArray]]:
        """Batches of ``(labels, embeddings)`` of rows written after ``change``, by label."""
        sql = f"SELECT {_VECTOR} FROM docs WHERE change > ? ORDER BY label"
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
        _rollback(self._db)

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

    def _insert(self, rows: Sequence[DocumentRow], number: int) -> IntArray:
        """Insert ``rows`` with their checksums under new labels; returns the labels."""
        first = self._next_label()
        labels = range(first, first + len(rows))
        pairs = list(zip(labels, rows, strict=True))
        self._db.executemany(
            "INSERT INTO docs (label, id, text, metadata, embedding, change, content_crc, "
            "vector_crc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [_doc_values(label, row, number) for label, row in pairs],
        )
        tokens = [
            _token_values(label, row.tokens) for label, row in pairs if row.tokens is not None
        ]
        if tokens:  # stores from before store_tokens may have no tokens table
            self._db.executemany(
                "INSERT INTO tokens (label, kinds, vectors, crc) VALUES (?, ?, ?, ?)", tokens
            )
        return np.array(labels, dtype=np.int64)

    def _next_label(self) -> int:
        """The label AUTOINCREMENT would give the next row (never one used before); called in
        the write transaction, so no other writer can take it."""
        return int(
            self._db.execute(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'docs'), 0), "
                "coalesce((SELECT max(label) FROM docs), 0)) + 1"
            ).fetchone()[0]
        )

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

    def _stack(self, rows: Sequence[tuple[int, bytes, int]]) -> tuple[IntArray, FloatArray]:
        self._check_vectors(rows)
        labels = np.array([row[0] for row in rows], dtype=np.int64)
        joined = np.frombuffer(b"".join(row[1] for row in rows), dtype=_EMBEDDING)
        return labels, joined.astype(np.float32).reshape(len(rows), self.dimension)

    def _contents(self, sql: str, *params: Any) -> list[Any]:
        """Rows of ``_CONTENT`` columns, each checked against its ``content_crc``."""
        rows = self._all(sql, *params)
        for label, doc_id, text, metadata, crc in rows:
            if content_crc(label, doc_id, text, metadata) != crc:
                raise self._damaged(label, "id, text or metadata")
        return rows

    def _check_vectors(self, rows: Sequence[Sequence[Any]]) -> None:
        """Check rows that start with the ``_VECTOR`` columns against their ``vector_crc``."""
        for label, embedding, crc, *_ in rows:
            if vector_crc(label, embedding) != crc:
                raise self._damaged(label, "embedding")

    def _damaged(self, label: int, part: str) -> DataLossError:
        """The error (logged) for a row whose ``part`` fails its checksum."""
        found = self._all("SELECT id FROM docs WHERE label = ?", label)
        name = repr(found[0][0]) if found else f"with label {label}"
        message = (
            f"collection {self._name!r}: document {name} is damaged in the store {self.path} "
            f"(its {part} does not match the checksum written with it), so it is not "
            "served; upsert or delete the document to replace it, or restore the collection "
            "from a backup"
        )
        logger.error("%s", message)
        return DataLossError(message)

    def _all(self, sql: str, *params: Any) -> list[Any]:
        with _guard(self._name, "read the store"):
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if not str(exc).startswith(_UNDECODABLE):
                    raise
            # A TEXT value is not UTF-8 (damage): read again decoding it losslessly, so that the
            # caller's checksum check names its row (only then: sqlite3's own decoding of TEXT
            # is twice as fast as a Python text_factory).
            self._db.text_factory = decode_text
            try:
                return self._db.execute(sql, params).fetchall()
            finally:
                self._db.text_factory = str

    def _one(self, sql: str) -> Any:
        return self._all(sql)[0]


def _parse_meta(rows: dict[str, str], name: str) -> Meta:
    spec = json.loads(rows["spec"])
    spec["pooling"] = Pooling(spec["pooling"])
    spec.setdefault("store_tokens", False)  # written before collections could store tokens
    if not isinstance(spec["store_tokens"], bool):
        raise TypeError(f"store_tokens is {spec['store_tokens']!r}")
    # Written before collections had a calibration: none.
    calibration = spec.pop("calibration", {})
    spec["calibration"] = Calibration(
        CalibrationKind(calibration.get("kind", "none")), int(calibration.get("dimensions", 0))
    )
    spec["name"] = name  # the directory's name wins if it was renamed
    return Meta(CollectionSpec(**spec), float(rows["created_at"]), str(json.loads(rows["uid"])))


def _connect(path: Path, *, timeout: float) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    return db


def _doc_values(label: int, row: DocumentRow, number: int) -> tuple[Any, ...]:
    """A ``docs`` row, checksums included, for an INSERT."""
    content = content_crc(label, row.id, row.text, row.metadata)
    vector = vector_crc(label, row.embedding)
    return (label, row.id, row.text, row.metadata, row.embedding, number, content, vector)


def _token_values(label: int, tokens: TokenBlobs) -> tuple[int, bytes, bytes, int]:
    """A ``tokens`` row, checksum included, for an INSERT."""
    return (label, tokens.kinds, tokens.vectors, tokens_crc(label, tokens.kinds, tokens.vectors))


def _migrate(db: sqlite3.Connection, name: str, path: Path) -> None:
    """Bring a schema 1 store (no row checksums) to schema 2 in one transaction: add the
    columns and compute every row's checksums (SQLite runs the UPDATE, calling the checksum
    functions per row)."""
    schema = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if schema is None or schema[0] != "1":
        return  # current, or unknown: the meta check says so
    started = time.perf_counter()
    db.create_function("content_crc", 4, content_crc_of_bytes, deterministic=True)
    db.create_function("vector_crc", 2, vector_crc, deterministic=True)
    db.create_function("tokens_crc", 3, tokens_crc, deterministic=True)
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in [*_CHECKSUM_SQL, *_FILL_CHECKSUMS_SQL]:
            db.execute(statement)
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA),))
        db.execute("COMMIT")
    except BaseException:
        _rollback(db)
        raise
    rows = db.execute("SELECT COUNT(*) FROM docs").fetchone()[0]
    logger.info(
        "collection %r: added row checksums to the store %s (schema 1 -> %d, %d documents, %.2f s)",
        name,
        path,
        SCHEMA,
        rows,
        time.perf_counter() - started,
    )


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        with suppress(sqlite3.Error):  # SQLite may have rolled back (e.g. SQLITE_FULL)
            db.execute("ROLLBACK")


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
