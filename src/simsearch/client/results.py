"""Result types that exist only on the client side of the wire.

The shared result types (``Document``, ``Hit``, ``CollectionInfo`` ...) live in
``simsearch.types``; these add what a remote caller sees and the engine does not return in one
piece: the server's description, pair scores, and the outcome of a batched upsert.
"""

from __future__ import annotations

from dataclasses import dataclass

from simsearch.types import Alignment, FloatArray, Limits, ModelInfo, Pooling

__all__ = ["CompareResult", "ServerInfo", "UpsertResult"]


@dataclass(frozen=True)
class ServerInfo:
    """What ``Info`` reports: the loaded model, its pooling kinds, the limits, the version."""

    model: ModelInfo
    poolings: list[Pooling]
    limits: Limits
    version: str
    store: str = "faiss"  # where collections live: faiss or milvus


@dataclass(frozen=True)
class CompareResult:
    """Scores of each pair (a, b); every array is ``(n,) float32``, score i for pair i.

    scores: cosine similarity of the sentence embeddings, in [-1, 1].
    truncated: indices of the pairs with a text cut to the model's maximum length.
    maxsim: MaxSim over the token embeddings (a as the query), when asked for.
    hybrid: ``alpha * scores + (1 - alpha) * maxsim``, when alpha was given.
    alignments: the token matches behind MaxSim, one per pair, when asked for.
    """

    scores: FloatArray
    truncated: tuple[int, ...] = ()
    maxsim: FloatArray | None = None
    hybrid: FloatArray | None = None
    alignments: list[Alignment] | None = None


@dataclass(frozen=True)
class UpsertResult:
    """How many documents were stored, and the ids of those whose text was truncated."""

    upserted: int
    truncated: tuple[str, ...] = ()
