"""Exact top-k by inner product with numpy, for small filtered candidate sets."""

from __future__ import annotations

import numpy as np

from simsearch.types import FloatArray, IntArray

__all__ = ["rescore", "top_k"]


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
