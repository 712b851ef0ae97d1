"""Descriptions on the wire: the model (with its poolings), the limits, a collection.

Fields an older server leaves unset decode to the defaults of ``simsearch.types``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from simsearch.types import CollectionInfo, CollectionSpec, Limits, ModelInfo, Pooling
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire.calibration import calibration_state_from_wire, calibration_state_to_wire
from simsearch.wire.classification import head_from_wire, head_to_wire
from simsearch.wire.options import pooling_from_wire, pooling_to_wire, poolings_from_wire

__all__ = [
    "collection_from_wire",
    "collection_to_wire",
    "limits_from_wire",
    "limits_to_wire",
    "model_from_wire",
    "model_to_wire",
    "poolings_to_wire",
]


def model_to_wire(model: ModelInfo) -> pb.ModelInfo:
    """The model's description; its poolings travel beside it (:func:`poolings_to_wire`)."""
    return pb.ModelInfo(
        name=model.name,
        fingerprint=model.fingerprint,
        hidden_size=model.hidden_size,
        max_length=model.max_length,
        vocab_size=model.vocab_size,
        device=model.device,
        precision=model.precision,
        threads=model.threads,
        engine=model.engine,
        encoder=model.encoder,
        replicas=model.replicas,
        head=None if model.head is None else head_to_wire(model.head),
    )


def poolings_to_wire(poolings: Sequence[Pooling]) -> list[pb.Pooling.ValueType]:
    return [pooling_to_wire(pooling) for pooling in poolings]


def model_from_wire(message: pb.ModelInfo, poolings: Iterable[int]) -> ModelInfo:
    """The model a message describes, supporting ``poolings`` (the wire values beside it;
    values unknown here are left out)."""
    return ModelInfo(
        name=message.name,
        fingerprint=message.fingerprint,
        hidden_size=message.hidden_size,
        max_length=message.max_length,
        vocab_size=message.vocab_size,
        device=message.device,
        precision=message.precision or "float32",
        threads=message.threads,
        engine=message.engine or "torch",
        encoder=message.encoder or "local",
        replicas=message.replicas or 1,
        poolings=poolings_from_wire(poolings),
        head=head_from_wire(message.head) if message.HasField("head") else None,
    )


_LIMIT_FIELDS = dataclasses.fields(Limits)


def limits_to_wire(limits: Limits) -> pb.Limits:
    return pb.Limits(**dataclasses.asdict(limits))  # the same field names on both sides


def limits_from_wire(message: pb.Limits) -> Limits:
    return Limits(**{field.name: getattr(message, field.name) for field in _LIMIT_FIELDS})


def collection_to_wire(info: CollectionInfo) -> pb.CollectionInfo:
    spec = info.spec
    return pb.CollectionInfo(
        name=spec.name,
        pooling=pooling_to_wire(spec.pooling),
        index=spec.index,
        dimension=spec.dimension,
        count=info.count,
        model_name=spec.model_name,
        model_fingerprint=spec.model_fingerprint,
        created_at=info.created_at,
        compatible=info.compatible,
        store_tokens=spec.store_tokens,
        unavailable=info.unavailable,
        calibration=calibration_state_to_wire(info.calibration),
    )


def collection_from_wire(message: pb.CollectionInfo) -> CollectionInfo:
    calibration = calibration_state_from_wire(message.calibration)
    spec = CollectionSpec(
        name=message.name,
        pooling=pooling_from_wire(message.pooling),
        index=message.index or "flat",
        dimension=message.dimension,
        model_name=message.model_name,
        model_fingerprint=message.model_fingerprint,
        store_tokens=message.store_tokens,
        calibration=calibration.calibration,
    )
    return CollectionInfo(
        spec=spec,
        count=message.count,
        created_at=message.created_at,
        compatible=message.compatible,
        unavailable=message.unavailable,
        calibration=calibration,
    )
