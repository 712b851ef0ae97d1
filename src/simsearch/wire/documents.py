"""Documents and search hits on the wire (metadata as ``google.protobuf.Struct``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from simsearch.types import Document, Hit
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire.structs import dict_to_struct, struct_to_dict

__all__ = [
    "document_from_wire",
    "document_to_wire",
    "hit_from_wire",
    "hit_to_wire",
    "hits_from_wire",
    "hits_to_wire",
]


def document_to_wire(document: Document) -> pb.Document:
    return pb.Document(
        id=document.id, text=document.text, metadata=dict_to_struct(document.metadata)
    )


def document_from_wire(message: pb.Document) -> Document:
    return Document(id=message.id, text=message.text, metadata=struct_to_dict(message.metadata))


def hit_to_wire(hit: Hit) -> pb.Hit:
    """The hit; ``sentence_score`` is always set on the wire (to ``score`` when the hit has
    none), so it comes back set."""
    wire = pb.Hit(
        id=hit.id,
        score=hit.score,
        text=hit.text,
        metadata=dict_to_struct(hit.metadata),
        sentence_score=hit.cosine,
    )
    if hit.maxsim_score is not None:
        wire.maxsim_score = hit.maxsim_score
    if hit.relevance_score is not None:
        wire.relevance_score = hit.relevance_score
    return wire


def hit_from_wire(message: pb.Hit) -> Hit:
    return Hit(
        id=message.id,
        score=message.score,
        text=message.text,
        metadata=struct_to_dict(message.metadata),
        sentence_score=message.sentence_score,
        maxsim_score=message.maxsim_score if message.HasField("maxsim_score") else None,
        relevance_score=message.relevance_score if message.HasField("relevance_score") else None,
    )


def hits_to_wire(rows: Sequence[Sequence[Hit]]) -> list[pb.SearchResult]:
    """One ``SearchResult`` per query, its hits in order."""
    return [pb.SearchResult(hits=[hit_to_wire(hit) for hit in row]) for row in rows]


def hits_from_wire(results: Iterable[pb.SearchResult]) -> list[list[Hit]]:
    return [[hit_from_wire(hit) for hit in result.hits] for result in results]
