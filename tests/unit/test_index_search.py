"""Search results of every index kind against exact brute-force numpy search on seeded data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simsearch.errors import InvalidArgumentError
from simsearch.index import FaissCatalog, FaissCollection
from simsearch.index import collection as collection_module
from simsearch.types import Document
from unit.index_fixtures import (
    DIMENSION,
    Corpus,
    assert_same_hits,
    recall,
    spec,
    unit_vectors,
)

K = 10
# Kinds whose results must equal brute force exactly: flat, and IVF probing every list.
EXACT_KINDS = ["flat", "IVF4,Flat | nprobe=4"]
HNSW = "HNSW32 | efSearch=256"


def ids(start: int, stop: int) -> list[str]:
    return [f"doc-{i}" for i in range(start, stop)]


def filled(catalog: FaissCatalog, index: str, n: int = 400) -> tuple[FaissCollection, Corpus]:
    collection = catalog.create(spec(index=index))
    corpus = Corpus.empty()
    corpus.upsert(collection, ids(0, n), unit_vectors(n, seed=1))
    return collection, corpus


@pytest.mark.parametrize("index", EXACT_KINDS)
def test_exact_kinds_equal_brute_force_through_deletes_and_replacements(
    catalog: FaissCatalog, index: str
) -> None:
    collection, corpus = filled(catalog, index)
    queries = unit_vectors(8, seed=2)
    assert_same_hits(collection.search(queries, K), corpus.expected(queries, K))

    corpus.delete(collection, ids(0, 60))
    replaced = ids(100, 160)
    old = np.stack([corpus.vectors[i] for i in replaced])
    corpus.upsert(collection, replaced, unit_vectors(60, seed=3))

    assert collection.count() == 340
    assert_same_hits(collection.search(queries, K), corpus.expected(queries, K))
    # The old vector of a replaced id is gone: searching with it never scores ~1 for that id.
    for doc_id, hits in zip(replaced, collection.search(old, K), strict=True):
        assert all(hit.id != doc_id or hit.score < 0.999 for hit in hits)
    assert_same_hits(collection.search(old, K), corpus.expected(old, K))


@pytest.mark.parametrize("index", [*EXACT_KINDS, HNSW, "IVF4,PQ8"])
@pytest.mark.parametrize(
    "filter",
    [{"group": 1}, {"group": 2, "parity": "even"}, {"parity": "odd"}, {"group": 7}],
    ids=["one-key", "two-keys", "half", "none"],
)
def test_filtered_search_equals_brute_force_over_the_matching_subset(
    catalog: FaissCatalog, index: str, filter: dict[str, object]
) -> None:
    """Small candidate sets are searched exactly, whatever the kind."""
    collection, corpus = filled(catalog, index)
    corpus.delete(collection, ids(0, 30))
    queries = unit_vectors(5, seed=4)
    hits = collection.search(queries, K, filter)
    assert_same_hits(hits, corpus.expected(queries, K, filter))


@pytest.mark.parametrize("index", ["flat", "IVF4,Flat | nprobe=4", HNSW])
def test_filter_with_many_candidates_uses_an_id_selector(
    catalog: FaissCatalog, index: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collection_module, "EXACT_FILTER_LIMIT", 0)
    collection, corpus = filled(catalog, index, n=600)
    corpus.delete(collection, ids(0, 40))
    queries = unit_vectors(6, seed=5)
    filter = {"parity": "even"}
    hits = collection.search(queries, K, filter)
    assert all(corpus.metadata[hit.id]["parity"] == "even" for row in hits for hit in row)
    if index == HNSW:
        assert recall(hits, corpus.expected(queries, K, filter)) >= 0.95
    else:
        assert_same_hits(hits, corpus.expected(queries, K, filter))


def test_hnsw_recall_tombstones_and_compaction(catalog: FaissCatalog) -> None:
    collection, corpus = filled(catalog, HNSW, n=1000)
    queries = unit_vectors(20, seed=6)
    assert recall(collection.search(queries, K), corpus.expected(queries, K)) >= 0.95

    deleted = ids(0, 150)  # 15%: below the compaction threshold, so these are tombstones
    deleted_vectors = np.stack([corpus.vectors[i] for i in deleted])
    corpus.delete(collection, deleted)
    assert len(collection._vectors.tombstones) == 150
    hits = collection.search(deleted_vectors, 50)
    assert not {hit.id for row in hits for hit in row} & set(deleted)
    assert recall(collection.search(queries, K), corpus.expected(queries, K)) >= 0.95

    replaced = ids(500, 570)  # replacements tombstone old labels too: 220 of 1070 > 20%
    corpus.upsert(collection, replaced, unit_vectors(70, seed=7))
    assert len(collection._vectors.tombstones) == 0  # compacted by a rebuild from the store
    assert collection.count() == 850
    assert recall(collection.search(queries, K), corpus.expected(queries, K)) >= 0.95
    hits = collection.search(deleted_vectors, 50)
    assert not {hit.id for row in hits for hit in row} & set(deleted)


def test_ivf_is_exact_while_staging_then_trains(catalog: FaissCatalog) -> None:
    collection = catalog.create(spec(index="IVF4,Flat"))  # default nprobe=1 once trained
    corpus = Corpus.empty()
    queries = unit_vectors(20, seed=8)
    corpus.upsert(collection, ids(0, 200), unit_vectors(200, seed=9))
    assert collection._vectors.stage == "staging"  # 200 < 256 = max(256, 39 * nlist)
    assert_same_hits(collection.search(queries, K), corpus.expected(queries, K))
    corpus.delete(collection, ids(0, 10))
    assert_same_hits(collection.search(queries, K), corpus.expected(queries, K))

    corpus.upsert(collection, ids(200, 400), unit_vectors(200, seed=10))
    assert collection._vectors.stage == "native"
    assert collection.count() == 390
    assert recall(collection.search(queries, K), corpus.expected(queries, K)) >= 0.3


def test_training_that_fails_keeps_searching_exactly(catalog: FaissCatalog) -> None:
    """PQ with 12-bit codes needs 4096 training points; at 300 FAISS refuses to train."""
    collection = catalog.create(spec(index="IVF4,PQ4x12"))
    corpus = Corpus.empty()
    corpus.upsert(collection, ids(0, 300), unit_vectors(300, seed=11))
    assert collection._vectors.stage == "staging"
    assert collection._vectors.train_size == 600
    queries = unit_vectors(5, seed=12)
    assert_same_hits(collection.search(queries, K), corpus.expected(queries, K))


def test_empty_collection_and_k_larger_than_the_count(catalog: FaissCatalog) -> None:
    collection = catalog.create(spec(index=HNSW))
    queries = unit_vectors(3, seed=13)
    assert collection.search(queries, K) == [[], [], []]
    assert collection.search(queries, K, {"group": 1}) == [[], [], []]
    corpus = Corpus.empty()
    corpus.upsert(collection, ids(0, 5), unit_vectors(5, seed=14))
    hits = collection.search(queries, 1000)
    assert [len(row) for row in hits] == [5, 5, 5]
    assert_same_hits(hits, corpus.expected(queries, 1000))
    corpus.delete(collection, ids(0, 5))
    assert collection.search(queries, K) == [[], [], []]


def test_hits_carry_text_and_metadata(catalog: FaissCatalog) -> None:
    collection, corpus = filled(catalog, "flat", n=20)
    (hit,) = collection.search(corpus.vectors["doc-7"][None, :], 1)[0]
    assert (hit.id, hit.text, hit.metadata) == ("doc-7", "text of doc-7", corpus.metadata["doc-7"])
    assert hit.score == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.search(unit_vectors(2, 0, dimension=DIMENSION + 1), K),
        lambda c: c.search(unit_vectors(2, 0)[0], K),
        lambda c: c.search(unit_vectors(2, 0), 0),
        lambda c: c.search(np.full((1, DIMENSION), np.nan, np.float32), K),
        lambda c: c.search(unit_vectors(1, 0), K, {"nested": {"a": 1}}),
        lambda c: c.search(unit_vectors(1, 0), K, {"list": [1]}),
        lambda c: c.upsert([Document("a", "t")], unit_vectors(2, 0)),
        lambda c: c.upsert([Document("a", "t"), Document("a", "u")], unit_vectors(2, 0)),
        lambda c: c.upsert([Document("a", "t", {"x": float("nan")})], unit_vectors(1, 0)),
        lambda c: c.upsert([Document("a", "t", {"x": object()})], unit_vectors(1, 0)),
    ],
    ids=[
        "query-dimension",
        "query-1d",
        "k-zero",
        "query-nan",
        "filter-dict",
        "filter-list",
        "count-mismatch",
        "duplicate-ids",
        "metadata-nan",
        "metadata-not-json",
    ],
)
def test_bad_input_is_an_invalid_argument(catalog: FaissCatalog, call: object) -> None:
    collection = catalog.create(spec())
    assert callable(call)
    with pytest.raises(InvalidArgumentError):
        call(collection)
    assert collection.count() == 0


@pytest.mark.parametrize(
    "index",
    [
        "Flat",
        "SQ8",
        "IVF4,SQ8 | nprobe=4",
        "OPQ8,IVF4,PQ8 | nprobe=4",
        "IVF4,PQ8x4fs | nprobe=4",
        "PCA24,HNSW32 | efSearch=128",
        "HNSW32,SQ8 | efSearch=128",
    ],
)
def test_every_supported_family_filters_deletes_and_reloads(
    tmp_path: Path, index: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collection_module, "EXACT_FILTER_LIMIT", 0)  # use the id selector
    catalog = FaissCatalog(tmp_path)
    collection, corpus = filled(catalog, index, n=600)
    assert collection._vectors.stage == "native"
    corpus.delete(collection, ids(0, 100))
    queries = unit_vectors(10, seed=15)
    for filter in [None, {"parity": "odd"}]:
        hits = collection.search(queries, K, filter)
        assert {hit.id for row in hits for hit in row} <= set(corpus.vectors)
        assert all(hit.metadata["parity"] == "odd" for row in hits for hit in row if filter)
        assert recall(hits, corpus.expected(queries, K, filter)) >= 0.3  # PQ8x4 on d=32: ~0.4
        for query, row in zip(queries, hits, strict=True):  # lossy kinds are rescored exactly
            exact = [float(corpus.vectors[hit.id] @ query) for hit in row]
            np.testing.assert_allclose([hit.score for hit in row], exact, atol=1e-5)
            assert exact == sorted(exact, reverse=True)
    before = collection.search(queries, K)
    catalog.close()
    after = FaissCatalog(tmp_path).open("docs").search(queries, K)
    assert [[h.id for h in row] for row in after] == [[h.id for h in row] for row in before]
