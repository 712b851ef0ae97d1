"""The stores the collection contract runs against, as one parametrized ``catalog`` fixture.

- ``faiss``: ``FaissCatalog`` in a fresh temporary directory per test (the reference).
- ``milvus-lite``: ``MilvusCatalog`` on one temporary ``.db`` file for the session.
- ``milvus-server``: ``MilvusCatalog`` on a real Milvus 2.3 standalone server started once per
  session by ``support.milvus_server`` (the ``milvus`` package's ``milvus-server`` binary),
  or the server named by ``SIMSEARCH_TEST_MILVUS_URI``.

The Milvus stores are shared by the whole session, so every test names its collections with
``new_name`` (``stores.Names``: unique, holding '.' and '-', which Milvus refuses in names),
and those collections are dropped when the test ends. Tests of documents and search take an
``empty_collection``: on Milvus one of a session pool, emptied between tests, because creating
a collection on a Milvus 2.3 server takes 2-3 s (mostly loading it; the catalog tests create
their own).

A :class:`Store` can make several catalog objects on the same store (``connect``): for Milvus
they are independent front-ends over one Milvus, which is what read-your-writes across
front-ends is about. One data directory belongs to one ``FaissCatalog`` (the server locks it),
so for FAISS the "second front-end" is the same catalog object (``Store.second_front_end``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from simsearch.engine.ports import Catalog, Collection
from simsearch.errors import NotFoundError
from simsearch.index import FaissCatalog

from .data import spec
from .stores import STORES, Names, Pool, Store, milvus_catalog, require_milvus_backend

MILVUS_URI_ENV = "SIMSEARCH_TEST_MILVUS_URI"


@pytest.fixture(scope="session")
def milvus_lite_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    pytest.importorskip("milvus_lite", reason="milvus-lite (simsearch[milvus]) is missing")
    return str(tmp_path_factory.mktemp("milvus-lite") / "contract.db")


@pytest.fixture(scope="session")
def contract_milvus_uri(request: pytest.FixtureRequest) -> str:
    """The real Milvus server: ``SIMSEARCH_TEST_MILVUS_URI`` when set (an existing server,
    e.g. a cluster to check; its collections made here are dropped), else the session's own
    server from ``support.milvus_server``."""
    existing = os.environ.get(MILVUS_URI_ENV, "")
    if existing:
        return existing
    uri: str = request.getfixturevalue("milvus_server_uri")
    return uri


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    kind: str = request.param
    if kind == "faiss":
        return Store(kind, lambda: FaissCatalog(tmp_path / "data"))
    require_milvus_backend()
    fixture = "milvus_lite_uri" if kind == "milvus-lite" else "contract_milvus_uri"
    uri: str = request.getfixturevalue(fixture)
    return Store(kind, lambda: milvus_catalog(uri))


@pytest.fixture(scope="session")
def pools() -> Iterator[dict[str, Pool]]:
    """The session's pools of empty collections, one per Milvus store (``stores.Pool``).
    Asked for only once a store is set up, so it ends before the stores' servers stop."""
    made: dict[str, Pool] = {}
    yield made
    for pool in made.values():
        pool.drop_all()


@pytest.fixture
def empty_collection(
    request: pytest.FixtureRequest, store: Store, catalog: Catalog, new_name: Names
) -> Iterator[Collection]:
    """An empty collection of the default spec (``data.spec``: flat, dimension 8) for tests
    of documents and search. FAISS: a new one. Milvus: one of the session's pool, emptied
    (creating a collection on a Milvus 2.3 server takes 2-3 s, most of it loading it)."""
    if not store.milvus:
        yield catalog.create(spec(new_name()))
        return
    pools: dict[str, Pool] = request.getfixturevalue("pools")
    pool = pools.setdefault(store.kind, Pool(store))
    name, collection = pool.take(catalog)
    yield collection
    pool.give_back(name)


@pytest.fixture
def catalog(store: Store) -> Iterator[Catalog]:
    """A catalog on the store; closed when the test ends (closing twice is allowed)."""
    opened = store.connect()
    yield opened
    opened.close()


@pytest.fixture
def new_name(request: pytest.FixtureRequest, store: Store) -> Iterator[Names]:
    names = Names(request.node.originalname)
    yield names
    if store.milvus and names.made:
        cleaner = store.connect()
        try:
            for name in names.made:
                with contextlib.suppress(NotFoundError):
                    cleaner.drop(name)
        finally:
            cleaner.close()
