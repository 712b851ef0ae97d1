"""What a request asks to embed, on the wire: texts or text pairs; query texts, vectors or
stored ids.

Each request carries one kind of input; a message that sets two is refused here, as the wire
allows it and nothing later could tell which was meant. Whether the inputs are valid (not empty,
within the limits) is the engine's check.
"""

from __future__ import annotations

from collections.abc import Sequence

from simsearch.errors import InvalidArgumentError
from simsearch.types import FloatArray, StoredIds, TextInput
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire.tensors import array_to_tensor, floats_from_wire

__all__ = [
    "inputs_from_wire",
    "inputs_to_wire",
    "pairs_from_wire",
    "pairs_to_wire",
    "queries_from_wire",
    "queries_to_wire",
]


def pairs_to_wire(pairs: Sequence[tuple[str, str]]) -> list[pb.TextPair]:
    return [pb.TextPair(a=a, b=b) for a, b in pairs]


def pairs_from_wire(pairs: Sequence[pb.TextPair]) -> list[tuple[str, str]]:
    return [(pair.a, pair.b) for pair in pairs]


def inputs_to_wire(inputs: Sequence[TextInput]) -> tuple[list[str], list[pb.TextPair]]:
    """The ``texts`` and ``pairs`` fields for a batch of one kind of input (texts or pairs)."""
    texts = [item for item in inputs if isinstance(item, str)]
    pairs = [item for item in inputs if isinstance(item, tuple)]
    if texts and pairs:
        raise InvalidArgumentError("give either texts or pairs, not both")
    return texts, pairs_to_wire(pairs)


def inputs_from_wire(texts: Sequence[str], pairs: Sequence[pb.TextPair]) -> list[TextInput]:
    """The request's texts or pairs; giving both is an error (neither is caught later)."""
    if texts and pairs:
        raise InvalidArgumentError("give either texts or pairs, not both")
    if pairs:
        return list(pairs_from_wire(pairs))
    return list(texts)


def queries_to_wire(
    queries: Sequence[str] | FloatArray | StoredIds, request: pb.SearchRequest
) -> None:
    """Set the request's query texts, its query vectors (an ``(n, d)`` array) or its ids."""
    if isinstance(queries, str):
        raise InvalidArgumentError("queries must be a list of texts, not one string")
    if isinstance(queries, StoredIds):
        request.ids.extend(queries.ids)
    elif isinstance(queries, Sequence):
        request.texts.extend(queries)
    else:
        request.vectors.CopyFrom(array_to_tensor(queries))


def queries_from_wire(request: pb.SearchRequest) -> list[str] | FloatArray | StoredIds:
    """Query texts, query vectors (float32; no copy when sent as float32) or stored ids: at
    most one kind (none is an empty batch of texts, which the engine refuses)."""
    given = [
        name
        for name, present in (
            ("texts", bool(request.texts)),
            ("vectors", request.HasField("vectors")),
            ("ids", bool(request.ids)),
        )
        if present
    ]
    if len(given) == 2:
        raise InvalidArgumentError(f"give either {given[0]} or {given[1]}, not both")
    if len(given) == 3:
        raise InvalidArgumentError("give one of texts, vectors or ids, not all three")
    if request.HasField("vectors"):
        return floats_from_wire(request.vectors, "query vectors")
    if request.ids:
        return StoredIds(tuple(request.ids))
    return list(request.texts)
