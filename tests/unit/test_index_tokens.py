"""Stored token vectors: float16 with the document, in the same commit, never in RAM."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from simsearch.errors import (
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
)
from simsearch.index import FaissCatalog, FaissCollection
from simsearch.index.collection import STORE_FILE
from simsearch.types import Document, TokenKind, TokenVectors
from unit.index_fixtures import DIMENSION, spec, unit_vectors

FLOAT16_ATOL = 1e-3  # float16 keeps 11 significant bits: |error| <= 2**-11 for |x| <= 1


def tokens_of(n_tokens: int, seed: int) -> TokenVectors:
    """``[CLS] words... [SEP]`` with seeded normalised float32 vectors."""
    kinds = np.full(n_tokens, TokenKind.WORD, dtype=np.uint8)
    kinds[[0, -1]] = TokenKind.SPECIAL
    kinds[1:-1:3] = TokenKind.PUNCTUATION
    return TokenVectors(unit_vectors(n_tokens, seed=1000 + seed), kinds)


def documents(names: Sequence[str]) -> list[Document]:
    return [Document(name, f"text of {name}") for name in names]


def upsert(collection: FaissCollection, names: Sequence[str], seed: int) -> list[TokenVectors]:
    tokens = [tokens_of(2 + (seed + i) % 19, seed * 100 + i) for i in range(len(names))]
    collection.upsert(documents(names), unit_vectors(len(names), seed=seed), tokens)
    return tokens


def assert_same_tokens(got: Sequence[TokenVectors], want: Sequence[TokenVectors]) -> None:
    assert len(got) == len(want)
    for stored, original in zip(got, want, strict=True):
        assert stored.vectors.dtype == np.float16 and stored.kinds.dtype == np.uint8
        assert stored.vectors.shape == original.vectors.shape
        np.testing.assert_allclose(stored.vectors, original.vectors, atol=FLOAT16_ATOL)
        np.testing.assert_array_equal(stored.kinds, original.kinds)


def token_rows(directory: Path) -> int:
    """Rows in the store's tokens table (read with a separate connection)."""
    db = sqlite3.connect(directory / STORE_FILE)
    try:
        return int(db.execute("SELECT COUNT(*) FROM tokens").fetchone()[0])
    finally:
        db.close()


@pytest.fixture
def collection(catalog: FaissCatalog) -> FaissCollection:
    return catalog.create(spec(store_tokens=True))


def test_roundtrip_in_the_order_asked_with_repeats(collection: FaissCollection) -> None:
    names = [f"doc-{i}" for i in range(30)]
    written = dict(zip(names, upsert(collection, names, seed=1), strict=True))
    asked = ["doc-7", "doc-0", "doc-7", "doc-29", "doc-3"]
    assert_same_tokens(collection.get_token_vectors(asked), [written[i] for i in asked])
    assert collection.get_token_vectors([]) == []


def test_one_query_fetches_every_document(collection: FaissCollection) -> None:
    names = [f"doc-{i}" for i in range(200)]
    upsert(collection, names, seed=2)
    statements: list[str] = []
    collection._store._db.set_trace_callback(statements.append)
    assert len(collection.get_token_vectors(names)) == 200
    collection._store._db.set_trace_callback(None)
    assert len(statements) == 1, statements


def test_replace_replaces_the_tokens(collection: FaissCollection, data_dir: Path) -> None:
    upsert(collection, ["a", "b"], seed=3)
    new = [tokens_of(5, seed=40)]
    collection.upsert(documents(["a"]), unit_vectors(1, seed=4), new)
    assert_same_tokens(collection.get_token_vectors(["a"]), new)
    assert token_rows(data_dir / "docs") == 2  # the old tokens of "a" are gone


def test_delete_removes_the_tokens(collection: FaissCollection, data_dir: Path) -> None:
    written = upsert(collection, ["a", "b", "c"], seed=5)
    assert collection.delete(["a", "c", "unknown"]) == 2
    with pytest.raises(NotFoundError, match=r"\['a', 'c'\]"):
        collection.get_token_vectors(["a", "b", "c", "a"])
    assert_same_tokens(collection.get_token_vectors(["b"]), [written[1]])
    assert token_rows(data_dir / "docs") == 1


def test_a_failed_token_write_stores_neither_document_nor_tokens(
    collection: FaissCollection, data_dir: Path
) -> None:
    """Each document row is inserted before its tokens; when a token insert fails, the whole
    commit (every document of the call, and its tokens) is rolled back."""
    written = upsert(collection, ["kept"], seed=6)
    db = sqlite3.connect(data_dir / "docs" / STORE_FILE, isolation_level=None)
    db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON tokens WHEN length(NEW.kinds) = 7 "
        "BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
    )
    names = ["x-0", "x-1", "x-2"]  # x-2 has 7 tokens: its token insert fails
    tokens = [tokens_of(n, seed=n) for n in (3, 4, 7)]
    with pytest.raises(InternalError, match="simulated failure"):
        collection.upsert(documents(names), unit_vectors(3, seed=7), tokens)
    db.execute("DROP TRIGGER refuse")
    db.close()

    assert collection.count() == 1
    assert collection.get(names) == [None, None, None]
    assert token_rows(data_dir / "docs") == 1
    reopened = FaissCatalog(data_dir).open("docs")  # as after a crash: no close
    assert reopened.count() == 1 and reopened.get(names) == [None, None, None]
    assert_same_tokens(reopened.get_token_vectors(["kept"]), written)


def test_reopen_keeps_store_tokens_and_the_vectors(catalog: FaissCatalog, data_dir: Path) -> None:
    collection = catalog.create(spec(store_tokens=True))
    written = upsert(collection, ["a", "b"], seed=8)
    catalog.close()
    reopened = FaissCatalog(data_dir).open("docs")
    assert reopened.spec.store_tokens is True
    assert reopened.spec == spec(store_tokens=True)
    assert_same_tokens(reopened.get_token_vectors(["b", "a"]), written[::-1])


def test_a_store_written_before_store_tokens_existed_reads_as_false(data_dir: Path) -> None:
    FaissCatalog(data_dir).create(spec()).close()
    db = sqlite3.connect(data_dir / "docs" / STORE_FILE, isolation_level=None)
    (raw,) = db.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()
    old = {key: value for key, value in json.loads(raw).items() if key != "store_tokens"}
    db.execute("UPDATE meta SET value = ? WHERE key = 'spec'", (json.dumps(old),))
    db.execute("DROP TABLE tokens")
    db.close()
    collection = FaissCatalog(data_dir).open("docs")
    assert collection.spec.store_tokens is False
    collection.upsert(documents(["a"]), unit_vectors(1, seed=9))
    assert collection.delete(["a"]) == 1  # no tokens table is touched


def test_a_collection_without_tokens_ignores_them_and_refuses_reading_them(
    catalog: FaissCatalog, data_dir: Path
) -> None:
    collection = catalog.create(spec())
    collection.upsert(documents(["a"]), unit_vectors(1, seed=10), [tokens_of(4, seed=1)])
    assert token_rows(data_dir / "docs") == 0
    with pytest.raises(FailedPreconditionError, match="does not store token embeddings"):
        collection.get_token_vectors(["a"])


def test_missing_tokens_are_refused(collection: FaissCollection) -> None:
    with pytest.raises(InvalidArgumentError, match="upsert needs tokens, one per document"):
        collection.upsert(documents(["a"]), unit_vectors(1, seed=11))
    assert collection.count() == 0


def _with(tokens: TokenVectors, vectors: object = None, kinds: object = None) -> TokenVectors:
    return TokenVectors(
        tokens.vectors if vectors is None else vectors,  # type: ignore[arg-type]
        tokens.kinds if kinds is None else kinds,  # type: ignore[arg-type]
    )


GOOD = tokens_of(4, seed=0)


@pytest.mark.parametrize(
    "tokens",
    [
        [],
        [GOOD, GOOD],
        [_with(GOOD, vectors=unit_vectors(4, 0, dimension=DIMENSION + 1))],
        [_with(GOOD, vectors=GOOD.vectors[0])],
        [_with(GOOD, kinds=GOOD.kinds[:3])],
        [_with(GOOD, kinds=np.full(4, 9, np.uint8))],
        [_with(GOOD, kinds=GOOD.kinds.astype(np.float32))],
        [_with(GOOD, vectors=np.full((4, DIMENSION), np.nan, np.float32))],
        [_with(GOOD, vectors=np.full((4, DIMENSION), 1e6, np.float32))],
    ],
    ids=[
        "none-for-one",
        "two-for-one",
        "dimension",
        "one-dimensional",
        "kinds-length",
        "kinds-value",
        "kinds-float",
        "nan",
        "float16-overflow",
    ],
)
def test_bad_tokens_are_an_invalid_argument(
    collection: FaissCollection, tokens: list[TokenVectors], data_dir: Path
) -> None:
    with pytest.raises(InvalidArgumentError, match="token"):
        collection.upsert(documents(["a"]), unit_vectors(1, seed=12), tokens)
    assert collection.count() == 0
    assert token_rows(data_dir / "docs") == 0
