"""Mined pairs on the wire: ``ScoredPair`` and the messages of the ``MinePairs`` stream."""

from __future__ import annotations

from collections.abc import Sequence

from simsearch.types import ScoredPair
from simsearch.v1 import simsearch_pb2 as pb

__all__ = [
    "mined_from_wire",
    "mined_to_wire",
    "scored_pair_from_wire",
    "scored_pair_to_wire",
]


def scored_pair_to_wire(pair: ScoredPair) -> pb.ScoredPair:
    wire = pb.ScoredPair(a=pair.a, b=pair.b, score=pair.score, sentence_score=pair.sentence_score)
    if pair.maxsim_score is not None:
        wire.maxsim_score = pair.maxsim_score
    return wire


def scored_pair_from_wire(message: pb.ScoredPair) -> ScoredPair:
    return ScoredPair(
        a=message.a,
        b=message.b,
        score=message.score,
        sentence_score=message.sentence_score,
        maxsim_score=message.maxsim_score if message.HasField("maxsim_score") else None,
    )


def mined_to_wire(pairs: Sequence[ScoredPair], done: int, total: int) -> pb.MinePairsResponse:
    """One message of the stream: pairs (maybe none) and progress, documents done of total."""
    return pb.MinePairsResponse(
        pairs=[scored_pair_to_wire(pair) for pair in pairs],
        documents_done=done,
        documents_total=total,
    )


def mined_from_wire(message: pb.MinePairsResponse) -> tuple[list[ScoredPair], int, int]:
    """``(pairs, documents_done, documents_total)`` of one message."""
    pairs = [scored_pair_from_wire(pair) for pair in message.pairs]
    return pairs, message.documents_done, message.documents_total
