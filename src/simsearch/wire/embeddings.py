"""Sentence and token embeddings on the wire.

Decoded float32 arrays are read-only views of the message's bytes (no copy); token offsets
travel as two lists, ``starts`` and ``ends``, and come back as one ``(n, 2) int64`` array.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simsearch.types import IntArray, SentenceEmbeddings, TokenEmbeddings
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire.tensors import array_to_tensor, floats_from_wire

__all__ = [
    "offsets_from_wire",
    "sentence_embeddings_from_wire",
    "sentence_embeddings_to_wire",
    "token_embeddings_from_wire",
    "token_embeddings_to_wire",
]


def sentence_embeddings_to_wire(embeddings: SentenceEmbeddings) -> pb.EncodeResponse:
    return pb.EncodeResponse(
        embeddings=array_to_tensor(embeddings.embeddings), truncated=embeddings.truncated
    )


def sentence_embeddings_from_wire(response: pb.EncodeResponse) -> SentenceEmbeddings:
    return SentenceEmbeddings(
        floats_from_wire(response.embeddings, "embeddings"), tuple(response.truncated)
    )


def token_embeddings_to_wire(item: TokenEmbeddings) -> pb.TokenEmbeddings:
    return pb.TokenEmbeddings(
        embeddings=array_to_tensor(item.embeddings),
        tokens=item.tokens,
        token_ids=item.token_ids.tolist(),
        starts=item.offsets[:, 0].tolist(),
        ends=item.offsets[:, 1].tolist(),
        special=item.special_mask.tolist(),
        segments=item.segment_ids.tolist(),
        truncated=item.truncated,
        unknown_tokens=item.unknown_tokens,
    )


def token_embeddings_from_wire(message: pb.TokenEmbeddings) -> TokenEmbeddings:
    return TokenEmbeddings(
        embeddings=floats_from_wire(message.embeddings, "token embeddings"),
        tokens=tuple(message.tokens),
        token_ids=np.asarray(message.token_ids, dtype=np.int64),
        offsets=offsets_from_wire(message.starts, message.ends),
        special_mask=np.asarray(message.special, dtype=np.bool_),
        segment_ids=np.asarray(message.segments, dtype=np.int64),
        truncated=message.truncated,
        unknown_tokens=message.unknown_tokens,
    )


def offsets_from_wire(starts: Sequence[int], ends: Sequence[int]) -> IntArray:
    """``(n, 2) int64`` [start, end) pairs."""
    return np.stack(
        [np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)], axis=1
    ).reshape(-1, 2)
