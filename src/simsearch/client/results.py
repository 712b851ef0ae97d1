"""Result types that exist only on the client side of the wire.

The shared result types (``Document``, ``Hit``, ``CollectionInfo`` ...) live in
``simsearch.types``; these add what a remote caller sees and the engine does not return in one
piece: the server's description, pair scores, and the outcome of a batched upsert.
"""

from __future__ import annotations

from dataclasses import dataclass

from simsearch.types import FloatArray, Limits, ModelInfo, Pooling

__all__ = ["CompareResult", "ServerInfo", "UpsertResult"]


@dataclass(frozen=True)
class ServerInfo:
    """What ``Info`` reports: the loaded model, its pooling kinds, the limits, the version."""

    model: ModelInfo
    poolings: list[Pooling]
    limits: Limits
    version: str


@dataclass(frozen=True)
class CompareResult:
    """Cosine similarity of each pair.

    scores: ``(n,) float32``, score i for pair i, in [-1, 1].
    truncated: indices of the pairs with a text cut to the model's maximum length.
    """

    scores: FloatArray
    truncated: tuple[int, ...] = ()


@dataclass(frozen=True)
class UpsertResult:
    """How many documents were stored, and the ids of those whose text was truncated."""

    upserted: int
    truncated: tuple[str, ...] = ()
