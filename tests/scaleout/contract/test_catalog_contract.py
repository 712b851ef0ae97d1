"""The catalog's contract: names, specs, errors, index kinds, tokens, persistence, front-ends."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from simsearch.engine.ports import Catalog
from simsearch.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from simsearch.types import Pooling, SearchParams, TokenVectors

from .data import (
    assert_hits,
    documents,
    exact_top_k,
    ids_of,
    spec,
    unit_vectors,
)
from .stores import Names, Store


def test_kind_names_the_store(store: Store, catalog: Catalog) -> None:
    assert catalog.kind == ("milvus" if store.milvus else "faiss")


def test_create_open_list_and_drop(catalog: Catalog, new_name: Names) -> None:
    """Create, open, list, AlreadyExists, drop, NotFound, reuse of a dropped name; with names
    that differ only by '.', '-' and '_', start with a digit or are 64 characters long: each is
    its own collection, listed as given (Milvus names allow none of '.', '-' or a leading
    digit, so the mapping must be one-to-one and reversible)."""
    stem = new_name().replace(".", "x").replace("-", "x")  # unique: letters, digits and '_'
    name, *others = (
        new_name.adopt(n) for n in (f"0{stem}.a-b", f"{stem}-a.b", (f"{stem}_a_b" + "z" * 64)[:64])
    )
    wanted = spec(name, pooling=Pooling.CLS, dimension=5)
    before = time.time()
    created = catalog.create(wanted)
    after = time.time()
    assert created.spec == wanted and created.count() == 0
    assert before - 1.0 <= created.created_at <= after + 1.0
    opened = catalog.open(name)
    assert opened.spec == wanted and opened.created_at == created.created_at
    assert catalog.unavailable(name) is None
    created.upsert(documents(["a"]), unit_vectors(1, seed=1, dimension=5))
    for i, other in enumerate(others):
        catalog.create(spec(other)).upsert(documents([f"doc{i}"]), unit_vectors(1, seed=i))
    listed = catalog.names()
    assert [n for n in listed if n in (name, *others)] == sorted((name, *others))
    assert listed == sorted(listed)

    with pytest.raises(AlreadyExistsError):  # and the collection is left as it was
        catalog.create(spec(name))
    assert catalog.open(name).spec == wanted and catalog.open(name).count() == 1

    catalog.drop(name)
    assert name not in catalog.names()
    with pytest.raises(NotFoundError):
        catalog.open(name)
    with pytest.raises(NotFoundError):
        catalog.drop(name)
    for i, other in enumerate(others):  # the look-alikes are untouched
        kept = catalog.open(other)
        assert kept.spec.name == other and kept.get([f"doc{i}"])[0] is not None

    again = catalog.create(spec(name))  # a dropped name can be reused, from scratch
    assert again.count() == 0 and catalog.open(name).spec == spec(name)


def test_an_unknown_name_is_not_found(catalog: Catalog, new_name: Names) -> None:
    name = new_name()
    with pytest.raises(NotFoundError):
        catalog.open(name)
    with pytest.raises(NotFoundError):
        catalog.drop(name)
    assert name not in catalog.names()


def test_store_tokens(store: Store, catalog: Catalog, new_name: Names) -> None:
    """FAISS keeps token vectors (float16) with the documents; Milvus refuses such a
    collection at create time with FAILED_PRECONDITION saying why, and creates nothing."""
    name = new_name()
    if store.milvus:
        with pytest.raises(FailedPreconditionError, match=r"(?i)token"):
            catalog.create(spec(name, store_tokens=True))
        assert name not in catalog.names()
        return
    collection = catalog.create(spec(name, store_tokens=True))
    assert collection.spec.store_tokens
    tokens = [TokenVectors(unit_vectors(3, seed=2), np.zeros(3, np.uint8))]
    collection.upsert(documents(["a"]), unit_vectors(1, seed=1), tokens)
    (stored,) = collection.get_token_vectors(["a"])
    np.testing.assert_allclose(stored.vectors, tokens[0].vectors, atol=1e-3)


def test_ivf_is_accepted_and_searches(catalog: Catalog, new_name: Names) -> None:
    """IVF exists in every store; on 60 documents it finds a stored vector first (flat, the
    default kind, ranks exactly: see the search contract; HNSW: see persistence)."""
    index = "IVF16,Flat"
    collection = catalog.create(spec(new_name(), index=index))
    assert collection.spec.index == index
    vectors = unit_vectors(60, seed=3)
    ids = [f"d{i}" for i in range(60)]
    collection.upsert(documents(ids), vectors)
    hits = collection.search(vectors[:5], 3)
    assert [h[0].id for h in hits] == ids[:5]
    for row in hits:
        assert [h.score for h in row] == sorted((h.score for h in row), reverse=True)
    queries = unit_vectors(3, seed=4)
    every_list = collection.search(queries, 5, params=SearchParams(nprobe=16))
    assert_hits(every_list, exact_top_k(queries, ids, vectors, 5))
    for never_valid in (SearchParams(nprobe=0), SearchParams(nprobe=17)):
        with pytest.raises(InvalidArgumentError):
            collection.search(queries, 5, params=never_valid)


def test_unknown_index_kinds_are_invalid_and_create_nothing(
    catalog: Catalog, new_name: Names
) -> None:
    for index in ["", "nonsense", "FLAT", "HNSW32,PQ8", "IDMap,Flat", "HNSW32 | bogus=1"]:
        name = new_name()
        with pytest.raises(InvalidArgumentError):
            catalog.create(spec(name, index=index))
        assert name not in catalog.names()
        with pytest.raises(NotFoundError):
            catalog.open(name)


# Kinds FAISS takes, and the stores that refuse them at create time (a documented difference:
# Milvus maps flat, HNSW, IVF-Flat, IVF-SQ8 and, on a server, IVF-PQ; see index/milvus/kinds).
OTHER_KINDS = {
    "HNSW32,Flat": (),
    "IVF4,SQ8": (),
    "IVF16,PQ4": ("milvus-lite",),  # milvus-lite has no IVF_PQ
    "SQ8": ("milvus-lite", "milvus-server"),
    "PCA4,Flat": ("milvus-lite", "milvus-server"),
    "IVF16_HNSW32,Flat": ("milvus-lite", "milvus-server"),
}


@pytest.mark.parametrize("index", OTHER_KINDS)
def test_other_kinds_work_or_are_refused_at_create(
    store: Store, catalog: Catalog, new_name: Names, index: str
) -> None:
    """Each store maps these kinds to an index of its own, or refuses them at create time
    (INVALID_ARGUMENT naming the kind, nothing created), never later."""
    name = new_name()
    if store.kind in OTHER_KINDS[index]:
        with pytest.raises(InvalidArgumentError, match=re.escape(index.split(" |")[0])):
            catalog.create(spec(name, index=index))
        assert name not in catalog.names()
        return
    collection = catalog.create(spec(name, index=index))
    vectors = unit_vectors(40, seed=4)
    collection.upsert(documents([f"d{i}" for i in range(40)]), vectors)
    assert [h[0].id for h in collection.search(vectors[:3], 2)] == ["d0", "d1", "d2"]


def test_everything_survives_close_and_reopen(
    store: Store, catalog: Catalog, new_name: Names
) -> None:
    name = new_name()
    index = "HNSW32 | efSearch=64"  # HNSW, and a parameter that must survive
    collection = catalog.create(spec(name, index=index, pooling=Pooling.POOLER))
    created_at = collection.created_at
    vectors = unit_vectors(20, seed=5)
    ids = [f"d{i}" for i in range(20)]
    collection.upsert(documents(ids, {"tag": "x"}), vectors)
    assert collection.delete(ids[:5]) == 5
    collection.upsert(documents(["d5"], {"tag": "replaced"}), vectors[:1])
    kept_ids, kept = ids[5:], np.concatenate([vectors[:1], vectors[6:]])
    queries = unit_vectors(3, seed=6)
    catalog.close()

    reopened = store.connect()
    try:
        assert name in reopened.names()
        again = reopened.open(name)
        assert again.spec == spec(name, index=index, pooling=Pooling.POOLER)
        assert again.created_at == pytest.approx(created_at, abs=1e-3)
        assert again.count() == 15
        assert again.get(["d4", "d5", "d6"])[0] is None
        assert again.get(["d5"])[0].metadata == {"tag": "replaced"}  # type: ignore[union-attr]
        np.testing.assert_allclose(again.get_embeddings(["d5"]), vectors[:1], atol=1e-6)
        assert_hits(again.search(queries, 4), exact_top_k(queries, kept_ids, kept, 4))
        wide = again.search(queries, 4, params=SearchParams(ef_search=64))
        assert_hits(wide, exact_top_k(queries, kept_ids, kept, 4))
    finally:
        reopened.close()


def test_acknowledged_writes_are_seen_by_another_front_end_at_once(
    store: Store, catalog: Catalog, new_name: Names
) -> None:
    """A write acknowledged through one catalog object is visible to the next read through
    another on the same store, without waiting. (FAISS: one catalog owns a data directory,
    so both front-ends are the same object; see ``Store.second_front_end``.)"""
    other = store.second_front_end(catalog)
    try:
        name = new_name()
        first = catalog.create(spec(name))
        assert name in other.names()
        second = other.open(name)  # opened before the writes below
        assert second.spec == spec(name) and second.count() == 0

        vectors = unit_vectors(4, seed=7)
        first.upsert(documents(["a", "b", "c", "d"]), vectors)
        assert second.count() == 4
        assert ids_of(second.search(vectors[2:3], 1)[0]) == ["c"]
        assert second.get(["d"])[0] is not None

        assert second.delete(["a"]) == 1
        second.upsert(documents(["b"], {"v": 2}), vectors[3:4])
        assert first.count() == 3 and first.get(["a"]) == [None]
        assert first.get(["b"])[0].metadata == {"v": 2}  # type: ignore[union-attr]
        assert set(ids_of(first.search(vectors[3:4], 2)[0])) == {"b", "d"}

        catalog.drop(name)
        assert name not in other.names()
        with pytest.raises(NotFoundError):
            other.open(name)
        with pytest.raises((NotFoundError, UnavailableError)):  # a handle from before
            second.count()
    finally:
        store.close_second(catalog, other)


def test_a_closed_catalog_is_unavailable(catalog: Catalog, new_name: Names) -> None:
    catalog.close()
    with pytest.raises(UnavailableError):
        catalog.open(new_name())
    with pytest.raises(UnavailableError):
        catalog.create(spec(new_name()))
    catalog.close()  # idempotent
