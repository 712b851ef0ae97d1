"""Between ``simsearch.v1`` messages and the plain types of ``simsearch.types``.

Pure functions, no I/O: request building and response decoding for ``Client``. Arrays decoded
from tensors are read-only views over the response bytes (no copy).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.client.results import ServerInfo
from simsearch.errors import InvalidArgumentError, SimsearchError
from simsearch.types import (
    AlignedTokens,
    Alignment,
    CollectionInfo,
    CollectionSpec,
    Document,
    FloatArray,
    Hit,
    Limits,
    MaxSimDirection,
    ModelInfo,
    Pooling,
    SentenceEmbeddings,
    TokenEmbeddings,
    TokenSelection,
)
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import tensor_pb2
from simsearch.wire import dict_to_struct, struct_to_dict, tensor_to_array
from simsearch.wire.maxsim import DIRECTION_TO_WIRE, TOKEN_SELECTION_TO_WIRE
from simsearch.wire.poolings import POOLING_FROM_WIRE, POOLING_TO_WIRE

__all__ = [
    "alignment_from_wire",
    "as_batch",
    "collection_info",
    "document_batches",
    "document_from_mapping",
    "document_from_wire",
    "document_to_wire",
    "float32_array",
    "hit_from_wire",
    "json_kind",
    "limits",
    "maxsim_to_wire",
    "model_info",
    "parse_pooling",
    "pooling_from_wire",
    "pooling_to_wire",
    "query_vectors",
    "sentence_embeddings",
    "server_info",
    "text_pairs",
    "token_embeddings",
]

_DOCUMENT_KEYS = ("id", "text", "metadata")

# -- pooling -------------------------------------------------------------------------------


def parse_pooling(value: Pooling | str) -> Pooling:
    """``Pooling`` from itself or its value ("pooler", "cls", "mean"; any case)."""
    try:
        return Pooling(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        choices = ", ".join(repr(p.value) for p in Pooling)
        raise InvalidArgumentError(f"unknown pooling {value!r}; use one of {choices}") from None


def pooling_to_wire(value: Pooling | str) -> pb.Pooling.ValueType:
    return POOLING_TO_WIRE[parse_pooling(value)]


def pooling_from_wire(value: pb.Pooling.ValueType) -> Pooling:
    """The pooling a wire value names; UNSPECIFIED is the default, POOLER."""
    if value == pb.POOLING_UNSPECIFIED:
        return Pooling.POOLER
    if value not in POOLING_FROM_WIRE:
        raise SimsearchError(f"the server sent pooling {value}, unknown to this client: upgrade it")
    return POOLING_FROM_WIRE[value]


# -- inputs --------------------------------------------------------------------------------


def as_batch(values: str | Sequence[str], field: str) -> list[str]:
    """A batch of strings; a single string is a batch of one."""
    if isinstance(values, str):
        return [values]
    batch = list(values)
    for i, value in enumerate(batch):
        if not isinstance(value, str):
            raise InvalidArgumentError(f"{field}[{i}] is {type(value).__name__}, expected str")
    return batch


def text_pairs(pairs: Sequence[tuple[str, str]]) -> list[pb.TextPair]:
    """``TextPair`` messages; each pair is a sequence of exactly two strings."""
    messages = []
    for i, pair in enumerate(pairs):
        if isinstance(pair, str) or len(pair) != 2 or not all(isinstance(t, str) for t in pair):
            raise InvalidArgumentError(f"pairs[{i}] must be a pair of two texts (a, b)")
        messages.append(pb.TextPair(a=pair[0], b=pair[1]))
    return messages


def query_vectors(queries: npt.ArrayLike) -> FloatArray:
    """Query vectors as ``(n, d) float32``; a single ``(d,)`` vector becomes ``(1, d)``."""
    array = np.asarray(queries)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise InvalidArgumentError(f"query vectors must be numbers, got dtype {array.dtype}")
    vectors = array.astype(np.float32, copy=False)
    if vectors.ndim == 1:
        vectors = vectors.reshape(1, -1)
    if vectors.ndim != 2:
        raise InvalidArgumentError(
            f"query vectors must have shape (d,) or (n, d), got {list(vectors.shape)}"
        )
    return vectors


# -- documents -----------------------------------------------------------------------------


def document_from_mapping(value: Document | Mapping[str, Any]) -> Document:
    """A ``Document`` from itself or a mapping with "id", "text" and optional "metadata".

    Raises InvalidArgumentError with the reason only; callers add where the value came from.
    """
    if isinstance(value, Document):
        return value
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"expected a document or a mapping, got {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in _DOCUMENT_KEYS)
    if unknown:
        raise InvalidArgumentError(f"unknown keys {unknown}; a document has id, text, metadata")
    for key in ("id", "text"):
        if key not in value:
            raise InvalidArgumentError(f"missing {key!r}")
        if not isinstance(value[key], str):
            raise InvalidArgumentError(f"{key!r} must be a string, got {json_kind(value[key])}")
    metadata = value.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidArgumentError(f"'metadata' must be an object, got {json_kind(metadata)}")
    return Document(value["id"], value["text"], dict(metadata or {}))


def json_kind(value: Any) -> str:
    """What a JSON value is, for messages: "a string", "an array", "null" ..."""
    if value is None:
        return "null"
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    kinds.update({list: "an array", dict: "an object"})
    return kinds.get(type(value), type(value).__name__)


def document_batches(
    documents: Iterable[Document | Mapping[str, Any]], size: int
) -> Iterator[list[Document]]:
    """Lists of at most ``size`` documents; a bad item raises naming ``documents[i]``."""
    batch: list[Document] = []
    for i, item in enumerate(documents):
        try:
            batch.append(document_from_mapping(item))
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"documents[{i}]: {exc}") from None
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def document_to_wire(document: Document) -> pb.Document:
    return pb.Document(
        id=document.id, text=document.text, metadata=dict_to_struct(document.metadata)
    )


def document_from_wire(message: pb.Document) -> Document:
    return Document(message.id, message.text, struct_to_dict(message.metadata))


def hit_from_wire(message: pb.Hit) -> Hit:
    return Hit(
        message.id,
        message.score,
        message.text,
        struct_to_dict(message.metadata),
        sentence_score=message.sentence_score,
        maxsim_score=message.maxsim_score if message.HasField("maxsim_score") else None,
    )


# -- MaxSim --------------------------------------------------------------------------------


def maxsim_to_wire(
    direction: MaxSimDirection | str | None,
    tokens: TokenSelection | str | None,
    alpha: float | None,
) -> pb.MaxSim:
    """MaxSim options (None: the default); an unknown one raises InvalidArgumentError."""
    try:
        wire = pb.MaxSim(
            direction=DIRECTION_TO_WIRE[MaxSimDirection(direction or MaxSimDirection.SYMMETRIC)],
            tokens=TOKEN_SELECTION_TO_WIRE[TokenSelection(tokens or TokenSelection.ALL)],
        )
    except ValueError as exc:
        raise InvalidArgumentError(
            f"{exc}: directions are {', '.join(d.value for d in MaxSimDirection)}; token "
            f"selections are {', '.join(t.value for t in TokenSelection)}"
        ) from None
    if alpha is not None:
        wire.alpha = alpha
    return wire


def alignment_from_wire(message: pb.Alignment) -> Alignment:
    similarity = float32_array(message.similarity) if message.HasField("similarity") else None
    return Alignment(
        a=_aligned_tokens(message.a),
        b=_aligned_tokens(message.b),
        a_to_b=np.asarray(message.a_to_b, dtype=np.int64),
        a_to_b_similarity=np.asarray(message.a_to_b_similarity, dtype=np.float32),
        b_to_a=np.asarray(message.b_to_a, dtype=np.int64),
        b_to_a_similarity=np.asarray(message.b_to_a_similarity, dtype=np.float32),
        similarity=similarity,
    )


def _aligned_tokens(message: pb.AlignedTokens) -> AlignedTokens:
    return AlignedTokens(
        tokens=tuple(message.tokens),
        offsets=_offsets(message.starts, message.ends),
        counted=np.asarray(message.counted, dtype=np.bool_),
    )


def _offsets(starts: Sequence[int], ends: Sequence[int]) -> npt.NDArray[np.int64]:
    """``(n, 2) int64`` [start, end) pairs."""
    return np.stack(
        [np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)], axis=1
    ).reshape(-1, 2)


# -- responses -----------------------------------------------------------------------------


def float32_array(message: tensor_pb2.Tensor) -> FloatArray:
    """A Tensor as float32, without a copy when it travelled as float32 (read-only then)."""
    array = tensor_to_array(message)
    if array.dtype != np.float32:
        array = array.astype(np.float32)
    result: FloatArray = array
    return result


def sentence_embeddings(response: pb.EncodeResponse) -> SentenceEmbeddings:
    return SentenceEmbeddings(float32_array(response.embeddings), tuple(response.truncated))


def token_embeddings(message: pb.TokenEmbeddings) -> TokenEmbeddings:
    """One input's token vectors; ``offsets`` is ``(n_tokens, 2) int64`` [start, end)."""
    return TokenEmbeddings(
        embeddings=float32_array(message.embeddings),
        tokens=tuple(message.tokens),
        token_ids=np.asarray(message.token_ids, dtype=np.int64),
        offsets=_offsets(message.starts, message.ends),
        special_mask=np.asarray(message.special, dtype=np.bool_),
        segment_ids=np.asarray(message.segments, dtype=np.int64),
        truncated=message.truncated,
        unknown_tokens=message.unknown_tokens,
    )


def model_info(message: pb.ModelInfo) -> ModelInfo:
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
    )


def limits(message: pb.Limits) -> Limits:
    return Limits(
        max_batch=message.max_batch,
        max_k=message.max_k,
        max_text_chars=message.max_text_chars,
        max_message_bytes=message.max_message_bytes,
        max_rerank_depth=message.max_rerank_depth,
        max_concurrent_rpcs=message.max_concurrent_rpcs,
        max_queue_depth=message.max_queue_depth,
        stream_idle_timeout_s=message.stream_idle_timeout_s,
        max_filter_keys=message.max_filter_keys,
    )


def server_info(response: pb.InfoResponse) -> ServerInfo:
    """The server's description; pooling kinds unknown to this client are left out."""
    poolings = [POOLING_FROM_WIRE[p] for p in response.poolings if p in POOLING_FROM_WIRE]
    return ServerInfo(
        model=model_info(response.model),
        poolings=poolings,
        limits=limits(response.limits),
        version=response.version,
        store=response.store or "faiss",
    )


def collection_info(message: pb.CollectionInfo) -> CollectionInfo:
    spec = CollectionSpec(
        name=message.name,
        pooling=pooling_from_wire(message.pooling),
        index=message.index or "flat",
        dimension=message.dimension,
        model_name=message.model_name,
        model_fingerprint=message.model_fingerprint,
        store_tokens=message.store_tokens,
    )
    return CollectionInfo(
        spec=spec,
        count=message.count,
        created_at=message.created_at,
        compatible=message.compatible,
        unavailable=message.unavailable,
    )
