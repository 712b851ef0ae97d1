"""Small seeded data for the contract tests: specs, unit vectors, documents, exact top-k.

FAISS is the reference: what it returns for these calls is what every store must return
(scores to float32 precision; ids exactly, ties aside)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from simsearch.types import CollectionSpec, Document, FloatArray, Hit, Pooling

DIMENSION = 8
SCORE_TOLERANCE = 1e-5


def spec(
    name: str,
    *,
    index: str = "flat",
    dimension: int = DIMENSION,
    pooling: Pooling = Pooling.MEAN,
    store_tokens: bool = False,
) -> CollectionSpec:
    return CollectionSpec(
        name=name,
        pooling=pooling,
        index=index,
        dimension=dimension,
        model_name="tiny-bert/ünïcode 模型",
        model_fingerprint="sha256:0123456789abcdef",
        store_tokens=store_tokens,
    )


def unit_vectors(n: int, seed: int, dimension: int = DIMENSION) -> FloatArray:
    """``(n, d) float32`` seeded normal rows, L2-normalised."""
    vectors = np.random.default_rng(seed).standard_normal((n, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def axis(i: int, dimension: int = DIMENSION) -> FloatArray:
    """The ``(1, d)`` unit vector along axis ``i``."""
    vector = np.zeros((1, dimension), np.float32)
    vector[0, i] = 1.0
    return vector


def towards(query: FloatArray, cosines: Sequence[float], seed: int = 0) -> FloatArray:
    """Unit vectors whose cosine with the unit ``query`` (1, d) is exactly ``cosines[i]``:
    ``c * q + sqrt(1 - c^2) * u`` with u a unit vector orthogonal to q."""
    rng = np.random.default_rng(seed)
    q = query[0].astype(np.float64)
    rows = []
    for cosine in cosines:
        u = rng.standard_normal(len(q))
        u -= (u @ q) * q
        u /= np.linalg.norm(u)
        rows.append(cosine * q + np.sqrt(max(0.0, 1.0 - cosine * cosine)) * u)
    return np.asarray(rows, dtype=np.float32)


def documents(ids: Sequence[str], metadata: Mapping[str, Any] | None = None) -> list[Document]:
    return [Document(doc_id, f"text of {doc_id}", dict(metadata or {})) for doc_id in ids]


def exact_top_k(
    queries: FloatArray, ids: Sequence[str], vectors: FloatArray, k: int
) -> list[list[tuple[str, float]]]:
    """Exact top-k by inner product with numpy: per query ``[(id, score)]``, best first."""
    scores = queries @ vectors.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [[(ids[j], float(row[j])) for j in top] for row, top in zip(scores, order, strict=True)]


def assert_hits(
    hits: list[list[Hit]], expected: list[list[tuple[str, float]]], atol: float = SCORE_TOLERANCE
) -> None:
    """Same length, scores to ``atol``, ids equal except where expected scores tie."""
    assert len(hits) == len(expected)
    for got, want in zip(hits, expected, strict=True):
        assert [h.id for h in got] == [i for i, _ in want] or _tied(got, want, atol), (
            [(h.id, h.score) for h in got],
            want,
        )
        np.testing.assert_allclose([h.score for h in got], [s for _, s in want], atol=atol)


def _tied(got: list[Hit], want: list[tuple[str, float]], atol: float) -> bool:
    if len(got) != len(want):
        return False
    scores = [s for _, s in want]
    for hit, (doc_id, score) in zip(got, want, strict=True):
        if hit.id != doc_id and sum(abs(other - score) <= atol for other in scores) < 2:
            return False
    return True


def ids_of(hits: list[Hit]) -> list[str]:
    return [hit.id for hit in hits]
