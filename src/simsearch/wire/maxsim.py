"""The tables between the MaxSim option enums of ``simsearch.types`` and the wire enums."""

from __future__ import annotations

from simsearch.types import MaxSimDirection, TokenSelection
from simsearch.v1 import simsearch_pb2 as pb

__all__ = [
    "DIRECTION_FROM_WIRE",
    "DIRECTION_TO_WIRE",
    "TOKEN_SELECTION_FROM_WIRE",
    "TOKEN_SELECTION_TO_WIRE",
]

DIRECTION_TO_WIRE: dict[MaxSimDirection, pb.MaxSimDirection.ValueType] = {
    MaxSimDirection.SYMMETRIC: pb.MAXSIM_DIRECTION_SYMMETRIC,
    MaxSimDirection.QUERY_TO_DOCUMENT: pb.MAXSIM_DIRECTION_QUERY_TO_DOCUMENT,
    MaxSimDirection.DOCUMENT_TO_QUERY: pb.MAXSIM_DIRECTION_DOCUMENT_TO_QUERY,
}
DIRECTION_FROM_WIRE: dict[pb.MaxSimDirection.ValueType, MaxSimDirection] = {
    wire: direction for direction, wire in DIRECTION_TO_WIRE.items()
}
TOKEN_SELECTION_TO_WIRE: dict[TokenSelection, pb.TokenSelection.ValueType] = {
    TokenSelection.ALL: pb.TOKEN_SELECTION_ALL,
    TokenSelection.NO_SPECIAL: pb.TOKEN_SELECTION_NO_SPECIAL,
    TokenSelection.WORDS: pb.TOKEN_SELECTION_WORDS,
}
TOKEN_SELECTION_FROM_WIRE: dict[pb.TokenSelection.ValueType, TokenSelection] = {
    wire: selection for selection, wire in TOKEN_SELECTION_TO_WIRE.items()
}
