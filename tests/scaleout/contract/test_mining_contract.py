"""The contract mining relies on, on every store: pages of stored vectors searched back into
the collection score each pair the same from both sides (to within ``mining.BAND``), so
mining lists every pair of the brute-force reference exactly once, in the stable order."""

from __future__ import annotations

from simsearch.engine import mining
from simsearch.engine.mining import MiningPlan
from simsearch.engine.ports import Collection
from simsearch.types import Document, Limits
from support.brute_force_pairs import reference_mining
from unit.fake_encoder import FakeEncoder

from .data import SCORE_TOLERANCE, unit_vectors

N = 60


def test_mining_lists_the_brute_force_pairs_once_in_order(empty_collection: Collection) -> None:
    ids = [f"doc-{(i * 7) % N:03d}" for i in range(N)]  # stored out of id order
    vectors = unit_vectors(N, seed=11)
    empty_collection.upsert([Document(i, f"text of {i}") for i in ids], vectors)
    plan = MiningPlan(within=True, top_m=4, chunk_size=16)
    chunks = list(
        mining.mine(empty_collection, empty_collection, plan, Limits(max_batch=16), FakeEncoder())
    )
    found = [(pair.a, pair.b, pair.score) for chunk in chunks for pair in chunk.pairs]
    expected = reference_mining(ids, vectors, 4)
    assert [(a, b) for a, b, _ in found] == [(a, b) for a, b, _ in expected]
    for (_, _, got), (_, _, want) in zip(found, expected, strict=True):
        assert abs(got - want) <= SCORE_TOLERANCE
    assert chunks[-1].documents_done == chunks[-1].documents_total == N
