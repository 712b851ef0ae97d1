"""Protocol buffers <-> the engine's plain types, for the server side.

Decoding raises ``InvalidArgumentError`` for anything the wire allows but the service does not
(an unknown enum value, both texts and pairs, a malformed tensor).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from simsearch.errors import InvalidArgumentError, SimsearchError, quoted, with_committed
from simsearch.types import (
    AlignedTokens,
    Alignment,
    CollectionInfo,
    Document,
    FloatArray,
    Hit,
    Limits,
    MaxSimDirection,
    MaxSimOptions,
    ModelInfo,
    Pooling,
    RerankOptions,
    SearchParams,
    TextInput,
    TokenEmbeddings,
    TokenSelection,
)
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import tensor_pb2
from simsearch.wire import array_to_tensor, dict_to_struct, struct_to_dict, tensor_to_array
from simsearch.wire.maxsim import DIRECTION_FROM_WIRE, TOKEN_SELECTION_FROM_WIRE
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


def first_chunk(requests: Iterator[pb.UpsertRequest]) -> pb.UpsertRequest:
    """The first chunk of an upsert stream (it names the collection); none is an error. An
    error reading it (the stream silent, the server stopping) says that nothing was stored."""
    try:
        first = next(requests, None)
    except SimsearchError as exc:
        raise with_committed(exc, 0) from exc
    if first is None:
        raise InvalidArgumentError("the stream carried no UpsertRequest")
    return first


def upsert_chunks(
    first: pb.UpsertRequest, rest: Iterator[pb.UpsertRequest]
) -> Iterator[tuple[list[Document], bool]]:
    """The documents and truncate flag of each chunk of an upsert stream; every chunk must
    name the first chunk's collection."""
    yield [document_from_wire(doc) for doc in first.documents], first.truncate
    for number, chunk in enumerate(rest, start=1):
        if chunk.collection != first.collection:
            raise InvalidArgumentError(
                f"chunk {number} names collection {quoted(chunk.collection)}; an upsert stream "
                f"writes to one collection ({quoted(first.collection)})"
            )
        yield [document_from_wire(doc) for doc in chunk.documents], chunk.truncate


def document_to_wire(doc: Document) -> pb.Document:
    return pb.Document(id=doc.id, text=doc.text, metadata=dict_to_struct(doc.metadata))


def filter_from_wire(request: pb.SearchRequest) -> dict[str, Any] | None:
    return struct_to_dict(request.filter) if request.HasField("filter") else None


def hit_to_wire(hit: Hit) -> pb.Hit:
    wire = pb.Hit(
        id=hit.id,
        score=hit.score,
        text=hit.text,
        metadata=dict_to_struct(hit.metadata),
        sentence_score=hit.cosine,
    )
    if hit.maxsim_score is not None:
        wire.maxsim_score = hit.maxsim_score
    return wire


def results_to_wire(hits: Sequence[Sequence[Hit]]) -> list[pb.SearchResult]:
    return [pb.SearchResult(hits=[hit_to_wire(hit) for hit in row]) for row in hits]


def maxsim_from_wire(message: pb.MaxSim) -> MaxSimOptions:
    direction = MaxSimDirection.SYMMETRIC
    if message.direction != pb.MAXSIM_DIRECTION_UNSPECIFIED:
        try:
            direction = DIRECTION_FROM_WIRE[message.direction]
        except KeyError:
            raise InvalidArgumentError(
                f"unknown MaxSim direction {message.direction}: use SYMMETRIC, "
                "QUERY_TO_DOCUMENT or DOCUMENT_TO_QUERY"
            ) from None
    tokens = TokenSelection.ALL
    if message.tokens != pb.TOKEN_SELECTION_UNSPECIFIED:
        try:
            tokens = TOKEN_SELECTION_FROM_WIRE[message.tokens]
        except KeyError:
            raise InvalidArgumentError(
                f"unknown token selection {message.tokens}: use ALL, NO_SPECIAL or WORDS"
            ) from None
    alpha = message.alpha if message.HasField("alpha") else None
    return MaxSimOptions(direction=direction, tokens=tokens, alpha=alpha)


def compare_maxsim_from_wire(request: pb.CompareRequest) -> MaxSimOptions | None:
    return maxsim_from_wire(request.maxsim) if request.HasField("maxsim") else None


def rerank_from_wire(request: pb.SearchRequest) -> RerankOptions | None:
    if not request.HasField("rerank"):
        return None
    return RerankOptions(depth=request.rerank.depth, maxsim=maxsim_from_wire(request.rerank.maxsim))


def params_from_wire(request: pb.SearchRequest) -> SearchParams | None:
    if not request.HasField("params"):
        return None
    params = request.params
    return SearchParams(
        ef_search=params.ef_search if params.HasField("ef_search") else None,
        nprobe=params.nprobe if params.HasField("nprobe") else None,
    )


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


def _aligned_tokens_to_wire(side: AlignedTokens) -> pb.AlignedTokens:
    return pb.AlignedTokens(
        tokens=list(side.tokens),
        starts=side.offsets[:, 0].tolist(),
        ends=side.offsets[:, 1].tolist(),
        counted=side.counted.tolist(),
    )


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
        unknown_tokens=item.unknown_tokens,
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
        store_tokens=spec.store_tokens,
        unavailable=info.unavailable,
    )


def model_to_wire(model: ModelInfo) -> pb.ModelInfo:
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
    )


def limits_to_wire(limits: Limits) -> pb.Limits:
    return pb.Limits(
        max_batch=limits.max_batch,
        max_k=limits.max_k,
        max_text_chars=limits.max_text_chars,
        max_message_bytes=limits.max_message_bytes,
        max_rerank_depth=limits.max_rerank_depth,
        max_concurrent_rpcs=limits.max_concurrent_rpcs,
        max_queue_depth=limits.max_queue_depth,
        stream_idle_timeout_s=limits.stream_idle_timeout_s,
        max_filter_keys=limits.max_filter_keys,
    )
