"""Plain result types shared by the engine, the server and the client.

Only the standard library and numpy: these types cross every layer. Arrays are documented
with their shapes and dtypes; sentence embeddings are ``(n, d) float32``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "BoolArray",
    "CollectionInfo",
    "CollectionSpec",
    "Document",
    "FloatArray",
    "Hit",
    "IntArray",
    "Limits",
    "Metadata",
    "ModelInfo",
    "Pooling",
    "SentenceEmbeddings",
    "TextInput",
    "TokenEmbeddings",
]

FloatArray: TypeAlias = npt.NDArray[np.float32]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]

# JSON-like metadata: str keys; str, float, int, bool, None, lists and nested dicts as values.
Metadata: TypeAlias = dict[str, Any]

# One input text, or a pair encoded jointly as BERT segments A and B.
TextInput: TypeAlias = str | tuple[str, str]


class Pooling(str, enum.Enum):
    """How a sentence embedding is made from BERT's outputs.

    POOLER: ``pooler_output`` = tanh(W · h_[CLS] + b), the default.
    CLS: ``last_hidden_state[:, 0]``.
    MEAN: mean of ``last_hidden_state`` over the real (non-padding) tokens.
    """

    POOLER = "pooler"
    CLS = "cls"
    MEAN = "mean"


@dataclass(frozen=True)
class Document:
    """A stored document: a caller-chosen string id, its text and JSON-like metadata."""

    id: str
    text: str
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """One search result. ``score`` is the cosine similarity to the query, in [-1, 1]."""

    id: str
    score: float
    text: str
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class SentenceEmbeddings:
    """Pooled vectors for a batch of inputs.

    embeddings: ``(n, d) float32``, row i for input i, L2-normalised if asked.
    truncated: indices of the inputs that were cut to the model's maximum length.
    """

    embeddings: FloatArray
    truncated: tuple[int, ...] = ()


@dataclass(frozen=True)
class TokenEmbeddings:
    """``last_hidden_state`` of one input, padding removed; all arrays have n_tokens rows.

    embeddings: ``(n_tokens, d) float32``, not normalised.
    tokens: the tokenizer's token strings, special tokens included (``[CLS]``, ``[SEP]``).
    token_ids: ``(n_tokens,) int64`` vocabulary ids.
    offsets: ``(n_tokens, 2) int64`` character [start, end) in the input text of the token's
        segment; ``(0, 0)`` for special tokens.
    special_mask: ``(n_tokens,) bool``, True for special tokens.
    segment_ids: ``(n_tokens,) int64``, 0 for segment A, 1 for segment B of a pair.
    truncated: whether the input was cut to the model's maximum length.
    """

    embeddings: FloatArray
    tokens: tuple[str, ...]
    token_ids: IntArray
    offsets: IntArray
    special_mask: BoolArray
    segment_ids: IntArray
    truncated: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """The loaded model. ``fingerprint`` is a hash of its weights and tokenizer vocabulary."""

    name: str
    fingerprint: str
    hidden_size: int
    max_length: int
    vocab_size: int
    device: str = "cpu"
    # Poolings this model supports: POOLER needs a pooler layer in the checkpoint.
    poolings: tuple[Pooling, ...] = (Pooling.POOLER, Pooling.CLS, Pooling.MEAN)


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection is built with; fixed at creation.

    index: ``"flat"`` (exact inner product, the default) or a FAISS factory string such as
    ``"HNSW32"`` or ``"IVF256,PQ48"``.
    """

    name: str
    pooling: Pooling
    index: str
    dimension: int
    model_name: str
    model_fingerprint: str


@dataclass(frozen=True)
class CollectionInfo:
    """A collection's spec and its live state.

    compatible: False when the loaded model is not the one the collection was built with; such
    a collection can be described, listed and dropped but not searched or written.
    """

    spec: CollectionSpec
    count: int
    created_at: float
    compatible: bool = True


@dataclass(frozen=True)
class Limits:
    """Per-request limits the server enforces before any expensive work."""

    max_batch: int = 256
    max_k: int = 1000
    max_text_chars: int = 100_000
    max_message_bytes: int = 64 * 1024 * 1024
