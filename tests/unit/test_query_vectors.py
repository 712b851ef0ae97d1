"""Query vectors on their way to the index: normalised once, in float64 precision, into a new
float32 array, whatever their magnitude, dtype or writability (the wire hands read-only
arrays over its buffer)."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.engine import Engine
from simsearch.index import FaissCatalog
from simsearch.types import Document, Limits
from unit.fake_encoder import DIMENSION, FakeEncoder

DOCS = [Document(f"doc-{i}", f"text {i}") for i in range(40)]


@pytest.fixture
def engine(catalog: FaissCatalog) -> Engine:
    engine = Engine(FakeEncoder("fingerprint"), catalog, Limits(max_batch=64, max_k=50))
    engine.create_collection("docs")
    engine.upsert("docs", DOCS)
    return engine


def float64_cosines(query: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """The scores a search must give: the query normalised in float64, rounded to float32,
    then float64 products with the stored vectors (``exact.ranked``), rounded to float32."""
    unit = (query.astype(np.float64) / np.linalg.norm(query.astype(np.float64))).astype(np.float32)
    return (stored.astype(np.float64) @ unit.astype(np.float64)).astype(np.float32)


@pytest.mark.parametrize("scale", [1e-30, 0.25, 1.0, 7.0, 1e20, 3e38])
def test_a_query_vector_scores_its_float64_normalisation_to_the_last_bit(
    engine: Engine, scale: float
) -> None:
    stored = engine.get_embeddings("docs", [doc.id for doc in DOCS])
    rng = np.random.default_rng(3)
    direction = rng.standard_normal(DIMENSION)
    query = (direction / np.abs(direction).max() * scale).astype(np.float32)
    assert np.isfinite(query).all() and query.any()
    read_only = np.frombuffer(query.tobytes(), dtype=np.float32).reshape(1, -1)  # as decoded
    hits = engine.search("docs", read_only, k=len(DOCS)).hits[0]
    expected = dict(zip([doc.id for doc in DOCS], float64_cosines(query, stored), strict=True))
    assert {hit.id: np.float32(hit.score) for hit in hits} == expected
    assert not read_only.flags.writeable  # searched as given, never written


def test_float64_and_float32_queries_of_one_direction_score_alike(engine: Engine) -> None:
    query = engine.get_embeddings("docs", ["doc-7"]) * np.float32(3.0)
    as_float32 = engine.search("docs", query, k=5).hits[0]
    as_float64 = engine.search("docs", query.astype(np.float64), k=5).hits[0]
    assert [(hit.id, hit.score) for hit in as_float32] == [
        (hit.id, hit.score) for hit in as_float64
    ]
    assert as_float32[0].id == "doc-7"
