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
from simsearch.index.store import TOKEN_KIND, TOKEN_VECTOR, DocumentRow, TokenBlobs
from simsearch.types import Document, FloatArray, Hit, Metadata, TokenKind, TokenVectors

__all__ = ["as_vectors", "document", "hit", "rows", "token_vectors"]

_EMBEDDING = np.dtype("<f4")
_KINDS = np.array([kind.value for kind in TokenKind], dtype=np.uint8)


def rows(
    documents: Sequence[Document],
    embeddings: Any,
    dimension: int,
    tokens: Sequence[TokenVectors] | None = None,
) -> tuple[list[DocumentRow], FloatArray]:
    """Store rows for ``documents`` and the checked ``(n, d) float32`` embeddings (row i for
    document i). ``tokens``: token vectors to store with each document (one per document), or
    None to store none."""
    vectors = as_vectors(embeddings, dimension, "embeddings")
    if len(vectors) != len(documents):
        raise InvalidArgumentError(
            f"{len(documents)} documents but {len(vectors)} embeddings: send one per document"
        )
    _check_unique([doc.id for doc in documents])
    token_blobs = _token_blobs(tokens, len(documents), dimension)
    blobs = vectors.astype(_EMBEDDING, copy=False)
    stored = [
        DocumentRow(
            doc.id,
            doc.text,
            _metadata_json(doc.metadata, i),
            blobs[i].tobytes(),
            None if token_blobs is None else token_blobs[i],
        )
        for i, doc in enumerate(documents)
    ]
    return stored, vectors


def token_vectors(blobs: TokenBlobs, dimension: int) -> TokenVectors:
    """Stored token vectors as read-only views of the blobs: ``(n, d) float16`` and
    ``(n,) uint8`` kinds (no copy)."""
    kinds = np.frombuffer(blobs.kinds, dtype=TOKEN_KIND)
    vectors = np.frombuffer(blobs.vectors, dtype=TOKEN_VECTOR).reshape(len(kinds), dimension)
    return TokenVectors(vectors=vectors, kinds=kinds)


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


def _token_blobs(
    tokens: Sequence[TokenVectors] | None, count: int, dimension: int
) -> list[TokenBlobs] | None:
    if tokens is None:
        return None
    if len(tokens) != count:
        raise InvalidArgumentError(
            f"{count} documents but {len(tokens)} token vectors: send one per document"
        )
    return [_token_blob(item, dimension, i) for i, item in enumerate(tokens)]


def _token_blob(tokens: TokenVectors, dimension: int, index: int) -> TokenBlobs:
    """float16 vectors and uint8 kinds of one document, checked (float16 overflow included)."""
    with np.errstate(over="ignore"):  # overflow becomes inf, refused below
        vectors = np.ascontiguousarray(tokens.vectors, dtype=TOKEN_VECTOR)
    kinds = np.asarray(tokens.kinds)
    where = f"tokens[{index}]"
    if vectors.ndim != 2 or vectors.shape[1] != dimension:
        raise InvalidArgumentError(
            f"{where}.vectors must have shape (n_tokens, {dimension}), got {vectors.shape}"
        )
    if kinds.shape != (len(vectors),) or not np.issubdtype(kinds.dtype, np.integer):
        raise InvalidArgumentError(
            f"{where}.kinds must be {len(vectors)} integers (one per token), got "
            f"{kinds.dtype} of shape {kinds.shape}"
        )
    if not np.isin(kinds, _KINDS).all():
        raise InvalidArgumentError(f"{where}.kinds holds values that are not TokenKind values")
    if not np.isfinite(vectors).all():
        raise InvalidArgumentError(f"{where}.vectors contain NaN or values beyond float16")
    return TokenBlobs(kinds.astype(TOKEN_KIND).tobytes(), vectors.tobytes())


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
