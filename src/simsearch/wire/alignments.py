"""Token alignments (the matches behind a pair's MaxSim score) on the wire."""

from __future__ import annotations

import numpy as np

from simsearch.types import AlignedTokens, Alignment
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire.embeddings import offsets_from_wire
from simsearch.wire.tensors import array_to_tensor, floats_from_wire

__all__ = ["alignment_from_wire", "alignment_to_wire"]


def alignment_to_wire(alignment: Alignment) -> pb.Alignment:
    wire = pb.Alignment(
        a=_aligned_tokens_to_wire(alignment.a),
        b=_aligned_tokens_to_wire(alignment.b),
        a_to_b=alignment.a_to_b.tolist(),
        a_to_b_similarity=alignment.a_to_b_similarity.tolist(),
        b_to_a=alignment.b_to_a.tolist(),
        b_to_a_similarity=alignment.b_to_a_similarity.tolist(),
    )
    if alignment.similarity is not None:
        wire.similarity.CopyFrom(array_to_tensor(alignment.similarity))
    return wire


def alignment_from_wire(message: pb.Alignment) -> Alignment:
    similarity = (
        floats_from_wire(message.similarity, "similarity")
        if message.HasField("similarity")
        else None
    )
    return Alignment(
        a=_aligned_tokens_from_wire(message.a),
        b=_aligned_tokens_from_wire(message.b),
        a_to_b=np.asarray(message.a_to_b, dtype=np.int64),
        a_to_b_similarity=np.asarray(message.a_to_b_similarity, dtype=np.float32),
        b_to_a=np.asarray(message.b_to_a, dtype=np.int64),
        b_to_a_similarity=np.asarray(message.b_to_a_similarity, dtype=np.float32),
        similarity=similarity,
    )


def _aligned_tokens_to_wire(side: AlignedTokens) -> pb.AlignedTokens:
    return pb.AlignedTokens(
        tokens=side.tokens,
        starts=side.offsets[:, 0].tolist(),
        ends=side.offsets[:, 1].tolist(),
        counted=side.counted.tolist(),
    )


def _aligned_tokens_from_wire(message: pb.AlignedTokens) -> AlignedTokens:
    return AlignedTokens(
        tokens=tuple(message.tokens),
        offsets=offsets_from_wire(message.starts, message.ends),
        counted=np.asarray(message.counted, dtype=np.bool_),
    )
