"""Brute-force references for mining: numpy over all pairs of stored vectors."""

from __future__ import annotations

import numpy as np

from simsearch.types import FloatArray

Pair = tuple[str, str, float]  # (a, b, score)


def top_ids(
    ids: list[str], scores: np.ndarray, row: int, top_m: int, skip: str | None
) -> list[str]:
    """Brute force: the top_m of a row of scores by descending score, then id."""
    order = sorted(
        (j for j in range(len(ids)) if ids[j] != skip), key=lambda j: (-scores[row, j], ids[j])
    )
    return [ids[j] for j in order[:top_m]]


def reference_mining(
    ids: list[str], vectors: FloatArray, top_m: int, min_score: float | None = None
) -> list[Pair]:
    """Each unordered pair once, under the first of its two documents (id order) that has
    the other among its top_m; sorted by a, descending score, b."""
    scores = vectors.astype(np.float64) @ vectors.astype(np.float64).T
    index = {doc_id: i for i, doc_id in enumerate(ids)}
    tops = {doc_id: top_ids(ids, scores, index[doc_id], top_m, doc_id) for doc_id in ids}
    pairs: list[Pair] = []
    for a in sorted(ids):
        for b in tops[a]:
            if b < a and a in tops[b]:
                continue  # listed under b
            score = float(scores[index[a], index[b]])
            if min_score is None or score >= min_score:
                pairs.append((a, b, score))
    return sorted(pairs, key=lambda pair: (pair[0], -pair[2], pair[1]))
