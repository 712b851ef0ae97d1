"""Each result type described once, as a JSON-ready value: what ``--json`` prints, and what the
text output (``render``) lays out for the terminal.

Floats from float32 arrays are written with the shortest text that reads back as the same
float32 (``0.8123``, not ``0.8123000264167786``). Optional fields (a rerank's scores, a
compare's MaxSim) are absent, not null, when they were not asked for. ``vectors=False`` leaves
out the embeddings and similarity matrices, which the text output never shows whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.client.results import CompareResult, ServerInfo, UpsertResult
from simsearch.types import (
    AlignedTokens,
    Alignment,
    CalibrationState,
    CollectionInfo,
    Document,
    FloatArray,
    Hit,
    SentenceEmbeddings,
    TokenEmbeddings,
)

__all__ = [
    "alignment_json",
    "calibration_json",
    "collection_json",
    "compare_json",
    "document_json",
    "embeddings_json",
    "float32",
    "hit_json",
    "search_json",
    "server_info_json",
    "tokens_json",
    "upsert_json",
    "vector_json",
]


def float32(value: float) -> float:
    return float(str(np.float32(value)))


def vector_json(vector: FloatArray) -> list[float]:
    return [float32(v) for v in vector.tolist()]


def server_info_json(info: ServerInfo) -> dict[str, Any]:
    """``{"version", "model", "poolings", "limits", "store"}``; ``model.head`` is the
    classification head (``{"labels", "problem_type", "relevance_label"}``) or null."""
    return {
        "version": info.version,
        "model": dataclasses.asdict(info.model),
        "poolings": [pooling.value for pooling in info.poolings],
        "limits": dataclasses.asdict(info.limits),
        "store": info.store,
    }


def collection_json(info: CollectionInfo) -> dict[str, Any]:
    spec = info.spec
    return {
        "name": spec.name,
        "count": info.count,
        "dimension": spec.dimension,
        "pooling": spec.pooling.value,
        "index": spec.index,
        "model_name": spec.model_name,
        "model_fingerprint": spec.model_fingerprint,
        "created_at": info.created_at,
        "compatible": info.compatible,
        "store_tokens": spec.store_tokens,
        "unavailable": info.unavailable,  # why it could not be opened; "" when usable
        "calibration": calibration_json(info.calibration),
    }


def calibration_json(state: CalibrationState) -> dict[str, Any]:
    """``{"kind", "dimensions", "fitted", "fitted_on", "fitted_at", "fit_threshold"}``;
    ``fitted_on`` and ``fitted_at`` (seconds since the epoch) are 0 until it is fitted."""
    return {
        "kind": state.calibration.kind.value,
        "dimensions": state.calibration.dimensions,
        "fitted": state.fitted,
        "fitted_on": state.fitted_on,
        "fitted_at": state.fitted_at,
        "fit_threshold": state.fit_threshold,
    }


def document_json(document: Document) -> dict[str, Any]:
    return {"id": document.id, "text": document.text, "metadata": document.metadata}


def hit_json(hit: Hit) -> dict[str, Any]:
    """``{"id", "score", "text", "metadata"}``; after a rerank also ``"cosine"``, with
    ``"maxsim"`` (MaxSim) or ``"relevance_score"`` (cross-encoder)."""
    result = {"id": hit.id, "score": float32(hit.score), "text": hit.text, "metadata": hit.metadata}
    if hit.maxsim_score is not None or hit.relevance_score is not None:
        result["cosine"] = float32(hit.cosine)
    if hit.maxsim_score is not None:
        result["maxsim"] = float32(hit.maxsim_score)
    if hit.relevance_score is not None:
        result["relevance_score"] = float32(hit.relevance_score)
    return result


def search_json(queries: Sequence[str], results: Sequence[Sequence[Hit]]) -> list[dict[str, Any]]:
    """``[{"query": ..., "hits": [{"id", "score", "text", "metadata"}, ...]}, ...]``"""
    return [
        {"query": query, "hits": [hit_json(hit) for hit in hits]}
        for query, hits in zip(queries, results, strict=True)
    ]


def embeddings_json(
    texts: Sequence[str], result: SentenceEmbeddings, *, vectors: bool = True
) -> list[dict[str, Any]]:
    """``[{"text": ..., "embedding": [d floats], "truncated": bool}, ...]``"""
    return [
        {
            "text": text,
            **({"embedding": vector_json(row)} if vectors else {}),
            "truncated": i in result.truncated,
        }
        for i, (text, row) in enumerate(zip(texts, result.embeddings, strict=True))
    ]


def compare_json(
    pairs: Sequence[tuple[str, str]], result: CompareResult, *, vectors: bool = True
) -> list[dict[str, Any]]:
    """``[{"a", "b", "score" (cosine), "truncated"}, ...]``, each with ``"maxsim"``,
    ``"hybrid"`` and ``"alignment"`` when they were asked for."""
    items = []
    for i, ((a, b), score) in enumerate(zip(pairs, result.scores.tolist(), strict=True)):
        item: dict[str, Any] = {"a": a, "b": b, "score": float32(score)}
        item["truncated"] = i in result.truncated
        if result.maxsim is not None:
            item["maxsim"] = float32(result.maxsim[i])
        if result.hybrid is not None:
            item["hybrid"] = float32(result.hybrid[i])
        if result.alignments is not None:
            item["alignment"] = alignment_json(result.alignments[i], vectors=vectors)
        items.append(item)
    return items


def alignment_json(alignment: Alignment, *, vectors: bool = True) -> dict[str, Any]:
    """``{"a": [token...], "b": [token...]}``; each token ``{"token", "start", "end",
    "counted", "match", "similarity"}`` (match: index in the other side, -1 if not counted),
    and ``"similarity"``: the matrix as rows, when it was asked for."""
    result: dict[str, Any] = {
        "a": _aligned_json(alignment.a, alignment.a_to_b, alignment.a_to_b_similarity),
        "b": _aligned_json(alignment.b, alignment.b_to_a, alignment.b_to_a_similarity),
    }
    if alignment.similarity is not None and vectors:
        result["similarity"] = [vector_json(row) for row in alignment.similarity]
    return result


def _aligned_json(
    side: AlignedTokens, matches: npt.NDArray[np.int64], similarity: FloatArray
) -> list[dict[str, Any]]:
    return [
        {
            "token": token,
            "start": int(side.offsets[i, 0]),
            "end": int(side.offsets[i, 1]),
            "counted": bool(side.counted[i]),
            "match": int(matches[i]),
            "similarity": float32(similarity[i]),
        }
        for i, token in enumerate(side.tokens)
    ]


def tokens_json(tokens: TokenEmbeddings, *, vectors: bool = True) -> dict[str, Any]:
    """``{"truncated": bool, "unknown_tokens": int, "tokens": [{"token", "id", "start", "end",
    "special", "segment", "embedding"}, ...]}``"""
    items = []
    for i, token in enumerate(tokens.tokens):
        item = {
            "token": token,
            "id": int(tokens.token_ids[i]),
            "start": int(tokens.offsets[i, 0]),
            "end": int(tokens.offsets[i, 1]),
            "special": bool(tokens.special_mask[i]),
            "segment": int(tokens.segment_ids[i]),
        }
        if vectors:
            item["embedding"] = vector_json(tokens.embeddings[i])
        items.append(item)
    return {"truncated": tokens.truncated, "unknown_tokens": tokens.unknown_tokens, "tokens": items}


def upsert_json(collection: str, result: UpsertResult, seconds: float) -> dict[str, Any]:
    return {
        "collection": collection,
        "upserted": result.upserted,
        "truncated": list(result.truncated),
        "seconds": round(seconds, 3),
    }
