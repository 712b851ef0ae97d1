"""Reorder candidate hits by MaxSim over token embeddings, or with the model's
classification head as a cross-encoder.

MaxSim: a candidate's token vectors come from the collection when it stores them (float16, no
model work), else from encoding the candidates' stored texts now. Each hit keeps its sentence
cosine and gains its MaxSim score; it is ranked by MaxSim, or by the hybrid score when alpha
is set.

Cross-encoder: each (query, candidate text) pair is encoded jointly, as segments A and B, and
the head's probability of its relevance label is the hit's score and ``relevance_score``: one
forward pass per candidate, so it costs ``depth`` times a query's encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from simsearch.engine.maxsim import combine, maxsim_many, token_vectors
from simsearch.engine.ports import Collection, Encoder
from simsearch.types import Hit, MaxSimOptions, TokenVectors

__all__ = ["DEFAULT_DEPTH", "candidate_tokens", "cross_encoder_rerank", "rerank_hits"]

DEFAULT_DEPTH = 50


def candidate_tokens(
    encoder: Encoder, target: Collection, rows: Sequence[Sequence[Hit]]
) -> dict[str, TokenVectors]:
    """Token vectors of every distinct hit in ``rows``, by id."""
    unique = {hit.id: hit for row in rows for hit in row}
    if not unique:
        return {}
    ids = list(unique)
    if target.spec.store_tokens:
        return dict(zip(ids, target.get_token_vectors(ids), strict=True))
    # Stored texts may have been cut to fit the model when upserted; cut them the same way.
    encoded = encoder.encode_tokens([unique[i].text for i in ids], truncate=True)
    return {doc_id: token_vectors(item) for doc_id, item in zip(ids, encoded, strict=True)}


def rerank_hits(
    query: TokenVectors,
    hits: Sequence[Hit],
    tokens: dict[str, TokenVectors],
    options: MaxSimOptions,
) -> list[Hit]:
    """``hits`` (scored by sentence cosine) reordered by MaxSim or the hybrid score."""
    if not hits:
        return []
    cosine = np.array([hit.cosine for hit in hits], dtype=np.float32)
    maxsim = maxsim_many(query, [tokens[hit.id] for hit in hits], options)
    final = combine(cosine, maxsim, options.alpha)
    order = np.argsort(-final, kind="stable")  # ties keep the index's order
    return [
        replace(
            hits[i],
            score=float(final[i]),
            sentence_score=float(cosine[i]),
            maxsim_score=float(maxsim[i]),
        )
        for i in order
    ]


def cross_encoder_rerank(
    encoder: Encoder, queries: Sequence[str], candidates: Sequence[Sequence[Hit]], relevance: int
) -> list[list[Hit]]:
    """Each query's candidates ranked by the head's probability of label ``relevance`` for
    the pair (query, candidate text), best first, ties by id; ``sentence_score`` kept.

    All pairs go to the encoder in one call. Stored texts may have been cut to fit the model
    alone; a pair is cut to fit (``longest_first``) the same way."""
    pairs = [
        (query, hit.text) for query, row in zip(queries, candidates, strict=True) for hit in row
    ]
    if not pairs:
        return [[] for _ in candidates]
    scores = encoder.classify(pairs, truncate=True).probabilities[:, relevance]
    reranked, start = [], 0
    for row in candidates:
        scored = [
            replace(hit, score=float(p), sentence_score=hit.cosine, relevance_score=float(p))
            for hit, p in zip(row, scores[start : start + len(row)], strict=True)
        ]
        reranked.append(sorted(scored, key=lambda hit: (-hit.score, hit.id)))
        start += len(row)
    return reranked
