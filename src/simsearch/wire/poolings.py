"""The one table between ``simsearch.types.Pooling`` and the wire enum ``simsearch.v1.Pooling``."""

from __future__ import annotations

from simsearch.types import Pooling
from simsearch.v1 import simsearch_pb2 as pb

__all__ = ["POOLING_FROM_WIRE", "POOLING_TO_WIRE"]

POOLING_TO_WIRE: dict[Pooling, pb.Pooling.ValueType] = {
    Pooling.POOLER: pb.POOLING_POOLER,
    Pooling.CLS: pb.POOLING_CLS,
    Pooling.MEAN: pb.POOLING_MEAN,
}
POOLING_FROM_WIRE: dict[pb.Pooling.ValueType, Pooling] = {
    wire: pooling for pooling, wire in POOLING_TO_WIRE.items()
}
