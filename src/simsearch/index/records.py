"""Conversions between the engine's types and store rows, with defensive input checks.

The engine validates requests first; these checks keep the store consistent if a caller
does not (shape, dtype, NaN, duplicate ids, metadata that is not JSON).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from simsearch.errors import InvalidArgumentError
from simsearch.index.store import Row
from simsearch.types import Document, FloatArray, Hit, Metadata

__all__ = ["as_vectors", "document", "hit", "rows"]

_EMBEDDING = np.dtype("<f4")


def rows(
    documents: Sequence[Document], embeddings: Any, dimension: int
) -> tuple[list[Row], FloatArray]:
    """Store rows for ``documents`` and the checked ``(n, d) float32`` embeddings (row i for
    document i)."""
    vectors = as_vectors(embeddings, dimension, "embeddings")
    if len(vectors) != len(documents):
        raise InvalidArgumentError(
            f"{len(documents)} documents but {len(vectors)} embeddings: send one per document"
        )
    _check_unique([doc.id for doc in documents])
    blobs = vectors.astype(_EMBEDDING, copy=False)
    stored = [
        Row(doc.id, doc.text, _metadata_json(doc.metadata, i), blobs[i].tobytes())
        for i, doc in enumerate(documents)
    ]
    return stored, vectors


def as_vectors(array: Any, dimension: int, what: str) -> FloatArray:
    """``array`` as a contiguous ``(n, dimension) float32`` matrix of finite values."""
    vectors = np.ascontiguousarray(array, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dimension:
        raise InvalidArgumentError(
            f"{what} must have shape (n, {dimension}), got {tuple(vectors.shape)}"
        )
    if not np.isfinite(vectors).all():
        raise InvalidArgumentError(f"{what} contain NaN or infinite values")
    return vectors


def document(doc_id: str, text: str, metadata: str) -> Document:
    return Document(id=doc_id, text=text, metadata=json.loads(metadata))


def hit(row: tuple[str, str, str], score: float) -> Hit:
    doc_id, text, metadata = row
    return Hit(id=doc_id, score=float(score), text=text, metadata=json.loads(metadata))


def _check_unique(ids: list[str]) -> None:
    repeated = sorted(doc_id for doc_id, times in Counter(ids).items() if times > 1)
    if repeated:
        raise InvalidArgumentError(f"document ids repeat within one call: {repeated}")


def _metadata_json(metadata: Metadata, index: int) -> str:
    if not isinstance(metadata, dict):
        raise InvalidArgumentError(f"documents[{index}].metadata is not a mapping")
    try:
        return json.dumps(metadata, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"documents[{index}].metadata is not JSON: {exc}") from None
