"""The stores under test (:class:`Store`), per-test collection names (:class:`Names`) and the
pool of empty collections reused on Milvus stores (:class:`Pool`)."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from simsearch.engine.ports import Catalog, Collection
from simsearch.errors import NotFoundError

from .data import spec, unit_vectors

STORES = ("faiss", "milvus-lite", "milvus-server")


@dataclass(frozen=True)
class Store:
    """One backend under test; ``connect()`` opens a new catalog object on it."""

    kind: str  # one of STORES
    connect: Callable[[], Catalog]

    @property
    def milvus(self) -> bool:
        return self.kind != "faiss"

    def second_front_end(self, first: Catalog) -> Catalog:
        """Another front-end on the same store: a new catalog object for Milvus; ``first``
        itself for FAISS (a data directory has one owner)."""
        return self.connect() if self.milvus else first

    def close_second(self, first: Catalog, second: Catalog) -> None:
        if second is not first:
            second.close()


def require_milvus_backend() -> None:
    """Skip the test while the Milvus backend (``simsearch.index.milvus``) is missing."""
    try:
        import simsearch.index.milvus  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"the Milvus backend is not importable: {exc}")


def milvus_catalog(uri: str) -> Catalog:
    """A new ``MilvusCatalog`` on ``uri`` (a milvus-lite file or a server's URI)."""
    from simsearch.index.milvus import MilvusCatalog

    catalog: Catalog = MilvusCatalog(uri)
    return catalog


class Names:
    """Collection names unique to one test; each is dropped from the store when it ends."""

    def __init__(self, test: str) -> None:
        self._test = re.sub(r"[^A-Za-z0-9]+", "_", test.removeprefix("test_"))[:24]
        self.made: list[str] = []

    def __call__(self, tag: str = "") -> str:
        """A new name such as ``c.search_top_k.tag-1a2b3c4d`` (at most 64 characters)."""
        return self.adopt(f"c.{self._test}{'.' + tag if tag else ''}-{uuid.uuid4().hex[:8]}"[:64])

    def adopt(self, name: str) -> str:
        """Drop ``name`` too when the test ends."""
        self.made.append(name)
        return name


class Pool:
    """Empty collections of the default spec (``data.spec``) on one Milvus store, reused by
    the tests of documents and search: a test takes one, emptied, and gives it back."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._free: list[str] = []
        self._all: list[str] = []

    def take(self, catalog: Catalog) -> tuple[str, Collection]:
        """A free collection emptied (its documents found by one search and deleted), or a
        new one."""
        if not self._free:
            name = f"c.pool-{uuid.uuid4().hex[:8]}"
            self._all.append(name)
            return name, catalog.create(spec(name))
        name = self._free.pop()
        collection = catalog.open(name)
        count = collection.count()
        if count:
            (hits,) = collection.search(unit_vectors(1, seed=0), count)
            collection.delete([hit.id for hit in hits])
        assert collection.count() == 0, f"pooled collection {name!r} could not be emptied"
        return name, collection

    def give_back(self, name: str) -> None:
        self._free.append(name)

    def drop_all(self) -> None:
        catalog = self._store.connect()
        try:
            for name in self._all:
                with contextlib.suppress(NotFoundError):
                    catalog.drop(name)
        finally:
            catalog.close()
