"""Random sequences of writes, checkpoints, crashes and reopenings against a plain dict model."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simsearch.index import FaissCatalog, FaissCollection
from unit.index_fixtures import Corpus, assert_same_hits, spec, unit_vectors

POOL = [f"doc-{i}" for i in range(24)]
ids_strategy = st.lists(st.sampled_from(POOL), min_size=1, max_size=8, unique=True)
operation = st.one_of(
    st.tuples(st.just("upsert"), ids_strategy),
    st.tuples(st.just("delete"), ids_strategy),
    st.tuples(st.sampled_from(["checkpoint", "crash", "reopen"]), st.just([])),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.sampled_from(["flat", "HNSW32 | efSearch=64"]),
    operations=st.lists(operation, max_size=20),
)
def test_collection_follows_the_model(index: str, operations: list[tuple[str, list[str]]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        data = Path(directory)
        collection = FaissCatalog(data, checkpoint_every=7).create(spec(index=index))
        corpus = Corpus.empty()
        for step, (name, ids) in enumerate(operations):  # seed = step: no duplicate vectors
            collection = _apply(collection, corpus, data, name, ids, step)
            _check(collection, corpus, exact=index == "flat")
        collection.close()


def _apply(
    collection: FaissCollection, corpus: Corpus, data: Path, name: str, ids: list[str], seed: int
) -> FaissCollection:
    if name == "upsert":
        corpus.upsert(collection, ids, unit_vectors(len(ids), seed=seed))
    elif name == "delete":
        expected = sum(doc_id in corpus.vectors for doc_id in ids)
        assert corpus.delete(collection, ids) == expected
    elif name == "checkpoint":
        collection.checkpoint()
    else:
        if name == "reopen":
            collection.close()
        return FaissCatalog(data, checkpoint_every=7).open("docs")  # "crash": no close
    return collection


def _check(collection: FaissCollection, corpus: Corpus, exact: bool) -> None:
    assert collection.count() == len(corpus.vectors)
    live = sorted(corpus.vectors)
    assert [doc is not None for doc in collection.get(POOL)] == [i in corpus.vectors for i in POOL]
    if live:
        stored = collection.get_embeddings(live)
        np.testing.assert_array_equal(stored, np.stack([corpus.vectors[i] for i in live]))
    queries = unit_vectors(3, seed=len(live))
    hits = collection.search(queries, 5)
    if exact:
        assert_same_hits(hits, corpus.expected(queries, 5))
    else:
        assert {hit.id for row in hits for hit in row} <= set(live)
