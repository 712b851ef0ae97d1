"""Approximate kinds (HNSW, IVF-Flat, IVF-PQ with rescoring): exact at their maximum search
parameters, deleted ids never returned, per-request parameters, checkpoint spacing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simsearch.errors import InvalidArgumentError
from simsearch.index import FaissCatalog, FaissCollection
from simsearch.index import collection as collection_module
from simsearch.index.collection import SNAPSHOT_FILE
from simsearch.index.kinds import DEFAULT_K_FACTOR, IndexKind
from simsearch.index.snapshot import Snapshot, read_snapshot
from simsearch.types import SearchParams
from unit.index_fixtures import DIMENSION, Corpus, assert_same_hits, recall, spec, unit_vectors

K = 10
N = 800
NLIST = 8
# Collection settings deliberately low, so that results at the maximum come from the request.
HNSW = "HNSW8 | efSearch=10"
IVF_FLAT = f"IVF{NLIST},Flat"  # nprobe=1
IVF_PQ = f"IVF{NLIST},PQ16"  # nprobe=1, rescoring DEFAULT_K_FACTOR * k candidates
IVF_HNSW = f"IVF{NLIST}_HNSW8,Flat"  # the coarse quantizer is a graph too
ANN_KINDS = [HNSW, IVF_FLAT, IVF_PQ, IVF_HNSW]


def maximum(count: int) -> SearchParams:
    """efSearch = the number of vectors explores the whole graph; nprobe = nlist every list."""
    return SearchParams(ef_search=count, nprobe=NLIST)


def ids(start: int, stop: int) -> list[str]:
    return [f"doc-{i}" for i in range(start, stop)]


def filled(catalog: FaissCatalog, index: str, n: int = N) -> tuple[FaissCollection, Corpus]:
    collection = catalog.create(spec(index=index))
    corpus = Corpus.empty()
    corpus.upsert(collection, ids(0, n), unit_vectors(n, seed=1))
    assert collection._vectors.stage == "native"
    return collection, corpus


@pytest.mark.parametrize("index", ANN_KINDS)
def test_at_maximum_parameters_results_equal_exact_search(
    catalog: FaissCatalog, index: str
) -> None:
    collection, corpus = filled(catalog, index)
    queries = unit_vectors(40, seed=2)
    expected = corpus.expected(queries, K)
    assert recall(collection.search(queries, K), expected) < 1  # the collection's own setting
    assert_same_hits(collection.search(queries, K, params=maximum(N)), expected)
    one = collection.search(queries[:1], K, params=maximum(N))  # a batch of one, too
    assert_same_hits(one, expected[:1])


@pytest.mark.parametrize("index", ANN_KINDS)
def test_deleted_ids_are_never_returned(tmp_path: Path, index: str) -> None:
    catalog = FaissCatalog(tmp_path, checkpoint_every=10**6)
    collection, corpus = filled(catalog, index)
    deleted = ids(0, 120)  # 15%: HNSW keeps them as tombstones (compaction starts at 20%)
    probes = np.stack([corpus.vectors[i] for i in deleted])  # each finds itself if present
    corpus.delete(collection, deleted)
    if index == HNSW:
        assert len(collection._vectors.tombstones) == 120

    def check(collection: FaissCollection, count: int) -> None:
        for params in (None, maximum(count)):
            hits = collection.search(probes, 50, params=params)
            assert not {hit.id for row in hits for hit in row} & set(deleted)
        queries = unit_vectors(20, seed=3)
        hits = collection.search(queries, K, params=maximum(count))
        assert_same_hits(hits, corpus.expected(queries, K))

    check(collection, N)
    collection.checkpoint()
    catalog.close()
    collection = FaissCatalog(tmp_path, checkpoint_every=10**6).open("docs")
    check(collection, N)  # tombstones come back with the snapshot

    more = ids(120, 200)  # 200 of 800 > 20%: HNSW compacts by a rebuild from the store
    deleted += more
    probes = np.concatenate([probes, np.stack([corpus.vectors[i] for i in more])])
    corpus.delete(collection, more)
    assert len(collection._vectors.tombstones) == 0
    check(collection, N - 200)


@pytest.mark.parametrize("index", [HNSW, IVF_FLAT, IVF_PQ])
def test_filtered_search_through_an_id_selector_is_exact_at_maximum(
    catalog: FaissCatalog, index: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collection_module, "EXACT_FILTER_LIMIT", 0)  # FAISS, not numpy
    collection, corpus = filled(catalog, index)
    corpus.delete(collection, ids(0, 50))
    queries, filter = unit_vectors(10, seed=4), {"parity": "odd"}
    hits = collection.search(queries, K, filter, params=maximum(N))
    assert_same_hits(hits, corpus.expected(queries, K, filter))


def test_request_parameters_override_the_collection_without_changing_it(
    catalog: FaissCatalog,
) -> None:
    low, _ = filled(catalog, IVF_FLAT)
    high = catalog.create(spec(name="high", index=f"{IVF_FLAT} | nprobe={NLIST}"))
    corpus = Corpus.empty()
    corpus.upsert(high, ids(0, N), unit_vectors(N, seed=1))
    queries = unit_vectors(40, seed=5)
    expected = corpus.expected(queries, K)

    before = low.search(queries, K)
    assert recall(before, expected) < 0.95
    assert_same_hits(low.search(queries, K, params=SearchParams(nprobe=NLIST)), expected)
    assert low.search(queries, K) == before  # the shared index kept nprobe=1
    assert_same_hits(high.search(queries, K), expected)
    lowered = high.search(queries, K, params=SearchParams(nprobe=1))
    assert [[h.id for h in row] for row in lowered] == [[h.id for h in row] for row in before]
    assert high.search(queries, K, params=SearchParams()) == high.search(queries, K)


def test_ef_search_overrides_hnsw_and_is_capped(catalog: FaissCatalog) -> None:
    collection, corpus = filled(catalog, HNSW)
    queries = unit_vectors(40, seed=6)
    expected = corpus.expected(queries, K)
    low = recall(collection.search(queries, K), expected)
    middle = recall(collection.search(queries, K, params=SearchParams(ef_search=40)), expected)
    assert low < middle < 1
    huge = SearchParams(ef_search=2**31 - 1)  # capped at the number of vectors: no huge heap
    assert_same_hits(collection.search(queries, K, params=huge), expected)


@pytest.mark.parametrize(
    ("index", "params"),
    [
        (HNSW, SearchParams(ef_search=0)),
        (HNSW, SearchParams(ef_search=-3)),
        (HNSW, SearchParams(nprobe=0)),
        (IVF_FLAT, SearchParams(nprobe=0)),
        (IVF_FLAT, SearchParams(nprobe=NLIST + 1)),
        (IVF_PQ, SearchParams(nprobe=-1)),
        (IVF_FLAT, SearchParams(ef_search=0)),
        (IVF_FLAT, SearchParams(nprobe=True)),
        (HNSW, SearchParams(ef_search=1.5)),  # type: ignore[arg-type]
        ("flat", SearchParams(nprobe=0)),
    ],
    ids=[
        "ef-zero",
        "ef-negative",
        "nprobe-zero-on-hnsw",
        "nprobe-zero",
        "nprobe-above-nlist",
        "nprobe-negative",
        "ef-zero-on-ivf",
        "nprobe-bool",
        "ef-float",
        "nprobe-zero-on-flat",
    ],
)
def test_bad_request_parameters_are_invalid(
    catalog: FaissCatalog, index: str, params: SearchParams
) -> None:
    collection = catalog.create(spec(index=index))
    with pytest.raises(InvalidArgumentError, match=r"params\.(ef_search|nprobe)"):
        collection.search(unit_vectors(1, seed=7), K, params=params)


@pytest.mark.parametrize(
    ("index", "params"),
    [
        (HNSW, SearchParams(nprobe=10**6)),
        (IVF_FLAT, SearchParams(ef_search=10**6)),
        ("flat", SearchParams(ef_search=5, nprobe=10**6)),
    ],
)
def test_parameters_that_do_not_apply_are_ignored(
    catalog: FaissCatalog, index: str, params: SearchParams
) -> None:
    collection, _ = filled(catalog, index)
    queries = unit_vectors(5, seed=8)
    assert collection.search(queries, K, params=params) == collection.search(queries, K)


@pytest.mark.parametrize(
    "index",
    [
        f"{IVF_FLAT} | nprobe={NLIST + 1}",
        f"{IVF_FLAT} | nprobe=0",
        "HNSW8 | efSearch=0",
        f"{IVF_HNSW} | quantizer_efSearch=0",
        "HNSW8 | k_factor=4",  # scores are exact: nothing to rescore
        "flat | k_factor=2",
        f"{IVF_PQ} | k_factor=0",
        f"{IVF_PQ} | k_factor=101",
        f"{IVF_PQ} | k_factor=two",
    ],
)
def test_bad_collection_parameters_are_refused_at_create(catalog: FaissCatalog, index: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"nprobe|efSearch|k_factor"):
        catalog.create(spec(index=index))
    assert catalog.names() == []


def test_kind_parameters() -> None:
    kind = IndexKind.parse(f"{IVF_PQ} | nprobe=4, k_factor=8", DIMENSION)
    assert (kind.nlist, kind.graph, kind.k_factor, kind.parameters) == (NLIST, False, 8, "nprobe=4")
    assert IndexKind.parse(IVF_PQ, DIMENSION).k_factor == DEFAULT_K_FACTOR
    assert IndexKind.parse(IVF_HNSW, DIMENSION).graph
    assert IndexKind.parse(HNSW, DIMENSION).k_factor == 1


def test_rescoring_more_candidates_raises_pq_recall(catalog: FaissCatalog) -> None:
    """k_factor=1 ranks by the PQ codes alone; the default rescoring finds the exact top-k."""
    queries = unit_vectors(40, seed=9)
    one, corpus = filled(catalog, f"{IVF_PQ} | k_factor=1")
    expected = corpus.expected(queries, K)
    assert recall(one.search(queries, K, params=maximum(N)), expected) < 1
    default = catalog.create(spec(name="default", index=IVF_PQ))
    Corpus.empty().upsert(default, ids(0, N), unit_vectors(N, seed=1))
    assert_same_hits(default.search(queries, K, params=maximum(N)), expected)


def test_checkpoints_grow_apart_with_the_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[int] = []
    original = Snapshot.write

    def counting(self: Snapshot, path: Path) -> None:
        written.append(self.last_change)
        original(self, path)

    monkeypatch.setattr(Snapshot, "write", counting)
    collection = FaissCatalog(tmp_path, checkpoint_every=10).create(spec())
    corpus = Corpus.empty()
    for start in range(0, 1000, 10):
        corpus.upsert(collection, ids(start, start + 10), unit_vectors(10, seed=start))
        last = read_snapshot(tmp_path / "docs" / SNAPSHOT_FILE).last_change
        assert (collection._store.last_change - last) * 10 <= max(10, (start + 10) // 4)
    assert len(written) < 25  # every 10 changes would be 100 rewrites


@pytest.mark.parametrize(
    "index", ["HNSW32", "HNSW32,SQ8", "HNSW8 | efSearch=10"], ids=["hnsw", "hnsw-sq", "hnsw-ef10"]
)
def test_k_as_large_as_the_collection_returns_every_document(
    catalog: FaissCatalog, index: str
) -> None:
    """efSearch below k acts as k: FAISS 1.15 itself keeps only efSearch candidates, so k=600
    on 600 documents returned about 230-420 hits with the default efSearch of 16."""
    n = 600
    collection, corpus = filled(catalog, index, n)
    queries = unit_vectors(3, seed=11)
    expected = corpus.expected(queries, n)
    for params in (None, SearchParams(ef_search=1), SearchParams(ef_search=n // 2)):
        hits = collection.search(queries, n, params=params)
        assert [len({hit.id for hit in row}) for row in hits] == [n] * len(queries), params
        assert_same_hits(hits, expected)


def test_quantizer_ef_search_below_nprobe_acts_as_nprobe(catalog: FaissCatalog) -> None:
    """An HNSW coarse quantizer asked for nprobe lists with a smaller efSearch found fewer
    lists, so nprobe=nlist was not exact."""
    nlist = 64
    n = 39 * nlist  # enough to train
    collection = catalog.create(spec(index=f"IVF{nlist}_HNSW8,Flat | quantizer_efSearch=1"))
    corpus = Corpus.empty()
    corpus.upsert(collection, ids(0, n), unit_vectors(n, seed=1))
    assert collection._vectors.stage == "native"
    queries = unit_vectors(20, seed=12)
    expected = corpus.expected(queries, K)
    for ef_search in (None, 1):
        params = SearchParams(nprobe=nlist, ef_search=ef_search)
        assert_same_hits(collection.search(queries, K, params=params), expected)
