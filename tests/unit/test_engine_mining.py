"""``engine.mining`` against brute force (numpy over all pairs): the top_m and threshold
rules, each unordered pair exactly once, the stable order, deletes, pairing, filters and
ties; the ``Cutoffs`` rule under asymmetric and missing scores; the message chunks."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from simsearch.engine import mining, sizes
from simsearch.engine.mining import BAND, Cutoffs, MiningPlan
from simsearch.engine.ports import Collection
from simsearch.errors import LimitExceededError
from simsearch.index import FaissCatalog
from simsearch.types import Document, FloatArray, Hit, Limits, ScoredPair
from simsearch.wire.mining import mined_to_wire, scored_pair_to_wire
from support.brute_force_pairs import Pair, reference_mining, top_ids
from unit.fake_encoder import FakeEncoder
from unit.index_fixtures import metadata_for, spec, unit_vectors


def _ids(n: int, prefix: str = "d") -> list[str]:
    # Not in insertion order: the index's labels and the id order differ.
    return [f"{prefix}{(i * 37) % n:04d}" for i in range(n)]


def _fill(collection: Collection, ids: Sequence[str], vectors: FloatArray) -> None:
    docs = [Document(doc_id, f"text {doc_id}", metadata_for(i)) for i, doc_id in enumerate(ids)]
    for start in range(0, len(docs), 64):
        collection.upsert(docs[start : start + 64], vectors[start : start + 64])


def _mine(
    source: Collection,
    target: Collection | None = None,
    *,
    top_m: int = 3,
    min_score: float | None = None,
    filter: Mapping[str, Any] | None = None,
    chunk_size: int = 7,
    limits: Limits | None = None,
) -> list[mining.PairChunk]:
    plan = MiningPlan(target is None, top_m, chunk_size, min_score, filter)
    return list(mining.mine(source, target or source, plan, limits or Limits(), FakeEncoder()))


def _pairs(chunks: list[mining.PairChunk]) -> list[Pair]:
    return [(pair.a, pair.b, pair.score) for chunk in chunks for pair in chunk.pairs]


def _assert_same(found: list[Pair], expected: list[Pair]) -> None:
    assert [(a, b) for a, b, _ in found] == [(a, b) for a, b, _ in expected]
    assert [s for _, _, s in found] == pytest.approx([s for _, _, s in expected], abs=1e-5)


@pytest.fixture
def docs(catalog: FaissCatalog) -> tuple[Collection, list[str], FloatArray]:
    ids, vectors = _ids(150), unit_vectors(150, seed=3)
    collection = catalog.create(spec("docs"))
    _fill(collection, ids, vectors)
    return collection, ids, vectors


@pytest.mark.parametrize("top_m", [1, 3, 10])
def test_mining_equals_brute_force(docs: Any, top_m: int) -> None:
    collection, ids, vectors = docs
    chunks = _mine(collection, top_m=top_m)
    found = _pairs(chunks)
    _assert_same(found, reference_mining(ids, vectors, top_m))
    unordered = [frozenset((a, b)) for a, b, _ in found]
    assert len(unordered) == len(set(unordered))  # exactly once
    assert all(a != b for a, b, _ in found)


def test_threshold_keeps_the_top_m_rule(docs: Any) -> None:
    """min_score filters the pairs; it never changes which documents are a top_m."""
    collection, ids, vectors = docs
    found = _pairs(_mine(collection, top_m=5, min_score=0.3))
    assert found and all(score >= 0.3 for _, _, score in found)
    _assert_same(found, reference_mining(ids, vectors, 5, min_score=0.3))


def test_chunks_and_progress(docs: Any) -> None:
    collection, ids, _ = docs
    chunks = _mine(collection, top_m=3, chunk_size=7, limits=Limits(max_batch=40))
    assert all(len(chunk.pairs) <= 7 for chunk in chunks)
    assert {chunk.documents_total for chunk in chunks} == {len(ids)}
    done = [chunk.documents_done for chunk in chunks]
    assert done == sorted(done) and done[-1] == len(ids)
    assert sorted(set(done)) == [40, 80, 120, 150]  # a message at least every page
    again = _pairs(_mine(collection, top_m=3, chunk_size=256))
    assert _pairs(chunks) == again  # the order is stable, whatever the chunking


def test_a_page_with_no_pairs_still_reports_progress(catalog: FaissCatalog) -> None:
    collection = catalog.create(spec("docs"))
    _fill(collection, _ids(10), unit_vectors(10, seed=1))
    chunks = _mine(collection, top_m=2, min_score=0.99, limits=Limits(max_batch=4))
    assert [(len(c.pairs), c.documents_done) for c in chunks] == [(0, 4), (0, 8), (0, 10)]


def test_after_deletes(docs: Any) -> None:
    collection, ids, vectors = docs
    gone = set(ids[::4])
    collection.delete(sorted(gone))
    kept = [i for i, doc_id in enumerate(ids) if doc_id not in gone]
    found = _pairs(_mine(collection, top_m=4))
    assert not {doc_id for pair in found for doc_id in pair[:2]} & gone
    _assert_same(found, reference_mining([ids[i] for i in kept], vectors[kept], 4))


def test_filter_applies_to_both_sides(docs: Any) -> None:
    collection, ids, vectors = docs
    chosen = [i for i in range(len(ids)) if metadata_for(i)["group"] == 1]
    found = _pairs(_mine(collection, top_m=3, filter={"group": 1}))
    _assert_same(found, reference_mining([ids[i] for i in chosen], vectors[chosen], 3))


def test_ties_are_broken_by_id(catalog: FaissCatalog) -> None:
    """Groups of three identical vectors: each document's top 2 are its twins (score 1),
    in id order, and each pair of twins is listed once, under its first id."""
    base = unit_vectors(20, seed=5)
    vectors = np.repeat(base, 3, axis=0)
    ids = _ids(60)
    collection = catalog.create(spec("docs"))
    _fill(collection, ids, vectors)
    found = _pairs(_mine(collection, top_m=2))
    _assert_same(found, reference_mining(ids, vectors, 2))
    assert len(found) == 20 * 3  # three pairs per group of three
    assert all(score == pytest.approx(1.0, abs=1e-6) for _, _, score in found)


def test_pairing_equals_brute_force(catalog: FaissCatalog) -> None:
    questions, answers = catalog.create(spec("q")), catalog.create(spec("a"))
    q_ids, a_ids = _ids(40, "q"), _ids(90, "a")
    q_vectors, a_vectors = unit_vectors(40, seed=7), unit_vectors(90, seed=8)
    _fill(questions, q_ids, q_vectors)
    _fill(answers, a_ids, a_vectors)
    found = _pairs(_mine(questions, answers, top_m=3, min_score=0.1))
    scores = q_vectors.astype(np.float64) @ a_vectors.astype(np.float64).T
    expected = []
    for i, q in sorted(enumerate(q_ids), key=lambda item: item[1]):
        for b in top_ids(a_ids, scores[i : i + 1], 0, 3, None):
            score = float(scores[i, a_ids.index(b)])
            if score >= 0.1:
                expected.append((q, b, score))
    _assert_same(found, sorted(expected, key=lambda pair: (pair[0], -pair[2], pair[1])))


# -- the Cutoffs rule on its own ----------------------------------------------------------


class _Jittered:
    """A collection over numpy vectors whose scores differ between the two views of a pair
    by up to 1e-6 (as two float32 computations may), and whose search may miss documents."""

    def __init__(self, ids: list[str], vectors: FloatArray, miss: float = 0.0) -> None:
        self._docs = {doc_id: Document(doc_id, "t") for doc_id in ids}
        self._vectors = dict(zip(ids, vectors, strict=True))
        self._ids, self._matrix = ids, vectors.astype(np.float64)
        self._miss = miss
        self._rng = np.random.default_rng(0)

    def count(self) -> int:
        return len(self._ids)

    def documents_after(self, after_id: str, limit: int) -> list[Document]:
        return [self._docs[i] for i in sorted(self._ids) if i > after_id][:limit]

    def get_embeddings(self, ids: Sequence[str]) -> FloatArray:
        return np.stack([self._vectors[i] for i in ids])

    def search(self, queries: FloatArray, k: int, filter: Any = None) -> list[list[Hit]]:
        rows = []
        for query in queries:
            scores = self._matrix @ query.astype(np.float64)
            scores += self._rng.uniform(-1e-6, 1e-6, len(scores))
            kept = [j for j in np.argsort(-scores) if self._rng.random() >= self._miss]
            rows.append([Hit(self._ids[j], float(scores[j]), "t") for j in kept[:k]])
        return rows


def test_asymmetric_scores_list_each_pair_once() -> None:
    """Scores jittered per view, and near-duplicates (pairs within the jitter of a cut-off):
    still every pair once, as brute force has them."""
    base = unit_vectors(30, seed=11)
    noise = unit_vectors(90, seed=12) * 1e-7
    vectors = np.repeat(base, 3, axis=0) + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = _ids(90)
    fake: Any = _Jittered(ids, vectors)
    plan = MiningPlan(True, 2, 256)
    found = _pairs(list(mining.mine(fake, fake, plan, Limits(), FakeEncoder())))
    unordered = [frozenset((a, b)) for a, b, _ in found]
    assert len(unordered) == len(set(unordered))
    assert set(unordered) == {frozenset((a, b)) for a, b, _ in reference_mining(ids, vectors, 2)}


def test_a_search_that_misses_documents_never_lists_a_pair_twice() -> None:
    ids, vectors = _ids(120), unit_vectors(120, seed=13)
    fake: Any = _Jittered(ids, vectors, miss=0.3)
    plan = MiningPlan(True, 4, 256)
    found = _pairs(list(mining.mine(fake, fake, plan, Limits(), FakeEncoder())))
    unordered = [frozenset((a, b)) for a, b, _ in found]
    assert len(unordered) == len(set(unordered)) > 0


def test_cutoffs_decide_from_the_boundary() -> None:
    cutoffs = Cutoffs()
    hits = [Hit("x", 0.9, ""), Hit("y", 0.5, ""), Hit("z", 0.5 + BAND / 4, "")]
    neighbours = sorted(hits, key=lambda hit: (-hit.score, hit.id))
    cutoffs.record("b", neighbours, complete=False)  # b's top 3: x, z, y; cut-off 0.5
    assert cutoffs.listed_under("b", "x", 0.9)  # well above
    assert cutoffs.listed_under("b", "y", 0.5 + 1e-7)  # at the boundary, by id
    assert not cutoffs.listed_under("b", "w", 0.5 + 1e-7)  # at the boundary, not listed
    assert not cutoffs.listed_under("b", "w", 0.2)
    assert not cutoffs.listed_under("unseen", "w", 0.9)
    cutoffs.record("c", [Hit("x", 0.3, "")], complete=True)  # c's search found everything
    assert cutoffs.listed_under("c", "x", 0.3) and cutoffs.listed_under("c", "w", -0.9)
    assert len(cutoffs) == 2


# -- filters and message sizes -------------------------------------------------------------


def test_scored_pair_size_is_exact_or_over() -> None:
    pairs = [
        ScoredPair("a", "b", 0.5, 0.5),
        ScoredPair("é" * 512, "中" * 512, -0.25, 0.75, 0.125),
        ScoredPair("x", "y", 0.0, 0.0, 0.0),
    ]
    for pair in pairs:
        assert 0 <= sizes.scored_pair(pair) - scored_pair_to_wire(pair).ByteSize() - 2 <= 10
    message = mined_to_wire(pairs, 2**40, 2**40)
    assert message.ByteSize() <= sum(map(sizes.scored_pair, pairs)) + sizes.MINING_PROGRESS


def test_chunks_fit_the_message_limit(catalog: FaissCatalog) -> None:
    collection = catalog.create(spec("docs"))
    long_ids = ["é" * 400 + f"{i:03d}" for i in range(30)]
    _fill(collection, long_ids, unit_vectors(30, seed=2))
    limit = 8_000
    chunks = _mine(collection, top_m=3, chunk_size=256, limits=Limits(max_message_bytes=limit))
    assert all(chunk.pairs for chunk in chunks[:-1])
    for chunk in chunks:
        wire = mined_to_wire(chunk.pairs, chunk.documents_done, chunk.documents_total)
        assert wire.ByteSize() <= limit
    assert max(len(chunk.pairs) for chunk in chunks) < 10
    with pytest.raises(LimitExceededError, match=r"max_message_bytes"):
        _mine(collection, top_m=3, limits=Limits(max_message_bytes=1_500))


def test_chunking_is_lazy(docs: Any) -> None:
    collection, _, _ = docs
    asked: list[str] = []
    original = collection.documents_after

    def recorded(after_id: str, limit: int) -> list[Document]:
        asked.append(after_id)
        page: list[Document] = original(after_id, limit)
        return page

    collection.documents_after = recorded
    plan = MiningPlan(True, 3, 256)
    chunks = mining.mine(collection, collection, plan, Limits(max_batch=50), FakeEncoder())
    assert asked == []
    next(chunks)
    assert len(asked) == 1
    _ = list(itertools.islice(chunks, 1))
    assert len(asked) == 2


def test_page_size_bounds_the_hits() -> None:
    assert mining.page_size(MiningPlan(True, 10, 1), Limits()) == 256
    assert mining.page_size(MiningPlan(True, 999, 1), Limits()) == 25
    assert mining.page_size(MiningPlan(False, 10, 1), Limits(max_batch=8)) == 8


def test_a_document_deleted_after_its_page_was_read_is_passed_over(docs: Any) -> None:
    collection, ids, _ = docs
    original = collection.documents_after
    victim = sorted(ids)[5]

    def then_deleted(after_id: str, limit: int) -> list[Document]:
        page: list[Document] = original(after_id, limit)
        if any(doc.id == victim for doc in page):
            collection.delete([victim])
        return page

    collection.documents_after = then_deleted
    found = _pairs(_mine(collection, top_m=3))
    assert found and victim not in {doc_id for pair in found for doc_id in pair[:2]}
