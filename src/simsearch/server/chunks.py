"""The chunks of an UpsertStream, as ``Engine.upsert_stream`` takes them.

The first chunk names the collection and every later chunk must name the same one; the
documents of each are decoded by ``simsearch.wire.documents`` and checked by the engine.
"""

from __future__ import annotations

from collections.abc import Iterator

from simsearch.errors import InvalidArgumentError, SimsearchError, quoted, with_committed
from simsearch.types import Document
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire.documents import document_from_wire

__all__ = ["first_chunk", "upsert_chunks"]


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
