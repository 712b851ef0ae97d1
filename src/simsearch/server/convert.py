"""Protocol buffers <-> the engine's plain types, for the server side.

Decoding raises ``InvalidArgumentError`` for anything the wire allows but the service does not
(an unknown enum value, both texts and pairs, a malformed tensor).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simsearch.errors import InvalidArgumentError
from simsearch.types import (
    CollectionInfo,
    Document,
    FloatArray,
    Hit,
    Limits,
    ModelInfo,
    Pooling,
    TextInput,
    TokenEmbeddings,
)
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import tensor_pb2
from simsearch.wire import array_to_tensor, dict_to_struct, struct_to_dict, tensor_to_array
from simsearch.wire.poolings import POOLING_FROM_WIRE, POOLING_TO_WIRE


def pooling_from_wire(value: int, default: Pooling = Pooling.POOLER) -> Pooling:
    if value == pb.POOLING_UNSPECIFIED:
        return default
    try:
        return POOLING_FROM_WIRE[value]  # type: ignore[index]
    except KeyError:
        raise InvalidArgumentError(
            f"unknown pooling {value}: use POOLING_POOLER, POOLING_CLS or POOLING_MEAN"
        ) from None


def pooling_to_wire(pooling: Pooling) -> pb.Pooling.ValueType:
    return POOLING_TO_WIRE[pooling]


def inputs_from_wire(texts: Sequence[str], pairs: Sequence[pb.TextPair]) -> list[TextInput]:
    """The request's texts or pairs; giving both is an error (neither is caught later)."""
    if texts and pairs:
        raise InvalidArgumentError("give either texts or pairs, not both")
    if pairs:
        return [(pair.a, pair.b) for pair in pairs]
    return list(texts)


def pairs_from_wire(pairs: Sequence[pb.TextPair]) -> list[tuple[str, str]]:
    return [(pair.a, pair.b) for pair in pairs]


def queries_from_wire(request: pb.SearchRequest) -> list[str] | FloatArray:
    """Query texts or query vectors: exactly one of them."""
    has_vectors = request.HasField("vectors")
    if has_vectors and request.texts:
        raise InvalidArgumentError("give either texts or vectors, not both")
    if has_vectors:
        return query_vectors_from_wire(request.vectors)
    return list(request.texts)


def query_vectors_from_wire(tensor: tensor_pb2.Tensor) -> FloatArray:
    array = tensor_to_array(tensor)
    if array.dtype.kind != "f":
        raise InvalidArgumentError(f"query vectors must be float32 or float16, not {array.dtype}")
    return array.astype(np.float32)


def document_from_wire(doc: pb.Document) -> Document:
    return Document(id=doc.id, text=doc.text, metadata=struct_to_dict(doc.metadata))


def document_to_wire(doc: Document) -> pb.Document:
    return pb.Document(id=doc.id, text=doc.text, metadata=dict_to_struct(doc.metadata))


def filter_from_wire(request: pb.SearchRequest) -> dict[str, Any] | None:
    return struct_to_dict(request.filter) if request.HasField("filter") else None


def hit_to_wire(hit: Hit) -> pb.Hit:
    return pb.Hit(id=hit.id, score=hit.score, text=hit.text, metadata=dict_to_struct(hit.metadata))


def tokens_to_wire(item: TokenEmbeddings) -> pb.TokenEmbeddings:
    return pb.TokenEmbeddings(
        embeddings=array_to_tensor(item.embeddings),
        tokens=list(item.tokens),
        token_ids=item.token_ids.tolist(),
        starts=item.offsets[:, 0].tolist(),
        ends=item.offsets[:, 1].tolist(),
        special=item.special_mask.tolist(),
        segments=item.segment_ids.tolist(),
        truncated=item.truncated,
    )


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
    )


def model_to_wire(model: ModelInfo) -> pb.ModelInfo:
    return pb.ModelInfo(
        name=model.name,
        fingerprint=model.fingerprint,
        hidden_size=model.hidden_size,
        max_length=model.max_length,
        vocab_size=model.vocab_size,
        device=model.device,
    )


def limits_to_wire(limits: Limits) -> pb.Limits:
    return pb.Limits(
        max_batch=limits.max_batch,
        max_k=limits.max_k,
        max_text_chars=limits.max_text_chars,
        max_message_bytes=limits.max_message_bytes,
    )
