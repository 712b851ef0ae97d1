"""Exact scores with numpy: top-k over small filtered candidate sets, rescoring candidates."""

from __future__ import annotations

import numpy as np

from simsearch.types import FloatArray, IntArray

__all__ = ["ranked", "rescore", "top_k"]


def top_k(
    queries: FloatArray, vectors: FloatArray, labels: IntArray, k: int
) -> tuple[FloatArray, IntArray]:
    """Top-k of ``queries`` ``(nq, d)`` over ``vectors`` ``(n, d)`` labelled ``labels`` ``(n,)``.

    Returns scores ``(nq, min(k, n)) float32``, descending, and their labels ``int64``.
    """
    scores = queries @ vectors.T
    k = min(k, len(labels))
    if k < len(labels):
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        top = np.broadcast_to(np.arange(len(labels)), scores.shape)
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    return np.take_along_axis(scores, top, axis=1).astype(np.float32), labels[top]


def rescore(
    queries: FloatArray, labels: IntArray, known: IntArray, vectors: FloatArray
) -> tuple[FloatArray, IntArray]:
    """Exact scores for an approximate result, re-sorted.

    labels: ``(nq, k) int64`` hits per query (``-1`` for none); known: sorted ``(m,) int64``
    labels with their stored ``vectors`` ``(m, d) float32``. Labels not in ``known`` score
    ``-inf`` and sort last. Returns scores ``(nq, k) float32`` descending and their labels.
    """
    if not len(known):
        return np.full(labels.shape, -np.inf, np.float32), labels
    position = np.minimum(np.searchsorted(known, labels), len(known) - 1)
    valid = (labels >= 0) & (known[position] == labels)
    scores = np.full(labels.shape, -np.inf, dtype=np.float32)
    for row, query in enumerate(queries):
        scores[row, valid[row]] = vectors[position[row, valid[row]]] @ query
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(labels, order, axis=1)


def ranked(
    queries: FloatArray, labels: IntArray, vectors: FloatArray
) -> tuple[FloatArray, IntArray]:
    """Candidates ranked by their exact score, the same whatever else was searched with them.

    labels: ``(nq, m) int64`` candidates per query (``-1`` for none); vectors: ``(nq, m, d)
    float32``, the candidates' stored vectors (any values where the label is ``-1``).
    Scores are float64 sums of the float32 products (each product is exact in float64), one
    row at a time, so a score depends only on its query and its vector; rounded to float32.
    Ties go to the lower label (the older document). Returns scores ``(nq, m) float32``,
    descending, ``-inf`` for ``-1`` labels (sorted last), and their labels.
    """
    exact = np.empty(labels.shape, dtype=np.float64)
    for row, query in enumerate(queries.astype(np.float64)):  # one row at a time: bounded memory
        exact[row] = (vectors[row].astype(np.float64) * query).sum(axis=1)  # pairwise, per row
    exact[labels < 0] = -np.inf
    order = np.lexsort((labels, -exact), axis=1)
    return (
        np.take_along_axis(exact, order, axis=1).astype(np.float32),
        np.take_along_axis(labels, order, axis=1),
    )
