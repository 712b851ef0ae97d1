"""The Milvus schema of a collection, and its catalog record in the collection's properties.

Fields: ``id`` VARCHAR primary key, ``text`` VARCHAR, ``metadata`` JSON, ``seq`` INT64 (the
write order, which breaks score ties in favour of the older document as FAISS does), and
``embedding`` FLOAT_VECTOR. No dynamic fields.

The catalog lives in Milvus itself: each collection carries its spec, creation time and a
unique id (``uid``) as the collection property ``PROPERTY``, written by the same
``create_collection`` call that makes it, so a collection and its record exist together or not
at all, every front-end reads them with one ``describe_collection`` (Milvus' metadata, always
current: no consistency level applies), and a drop removes both. The schema's description
holds the uid as well: Milvus 2.3 refuses to create a collection that exists with different
parameters, so of two front-ends creating one name at once exactly one succeeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from simsearch.errors import UnavailableError
from simsearch.index.milvus.expressions import FIELD as METADATA
from simsearch.index.milvus.limits import MAX_ID_BYTES, MAX_TEXT_BYTES
from simsearch.types import CollectionSpec, Pooling

__all__ = [
    "EMBEDDING",
    "ID",
    "METADATA",
    "PROPERTY",
    "SEQ",
    "TEXT",
    "Record",
    "collection_schema",
]

ID, TEXT, SEQ, EMBEDDING = "id", "text", "seq", "embedding"
PROPERTY = "simsearch.collection"
FORMAT = 1


@dataclass(frozen=True)
class Record:
    """A collection's catalog record: its spec, creation time (seconds) and unique id."""

    spec: CollectionSpec
    created_at: float
    uid: str

    def to_property(self) -> dict[str, str]:
        spec = self.spec
        value = {
            "format": FORMAT,
            "name": spec.name,
            "pooling": spec.pooling.value,
            "index": spec.index,
            "dimension": spec.dimension,
            "model_name": spec.model_name,
            "model_fingerprint": spec.model_fingerprint,
            "store_tokens": spec.store_tokens,
            "created_at": self.created_at,
            "uid": self.uid,
        }
        return {PROPERTY: json.dumps(value, separators=(",", ":"))}

    @classmethod
    def from_properties(cls, name: str, properties: Any) -> Record:
        """The record of collection ``name``; UnavailableError saying what is wrong with it."""
        text = properties.get(PROPERTY) if isinstance(properties, dict) else None
        if text is None:
            raise UnavailableError(
                "its Milvus collection has no simsearch catalog record (it was not created by "
                "simsearch, or its creation was interrupted); drop it"
            )
        try:
            value = json.loads(text)
            if value["format"] != FORMAT:
                raise UnavailableError(
                    f"its catalog record has format {value['format']!r}; this simsearch reads "
                    f"format {FORMAT}"
                )
            spec = CollectionSpec(
                name=str(value["name"]),
                pooling=Pooling(value["pooling"]),
                index=str(value["index"]),
                dimension=int(value["dimension"]),
                model_name=str(value["model_name"]),
                model_fingerprint=str(value["model_fingerprint"]),
                store_tokens=bool(value["store_tokens"]),
            )
            record = cls(spec, float(value["created_at"]), str(value["uid"]))
        except UnavailableError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise UnavailableError(f"its catalog record is unreadable ({exc!r})") from None
        if spec.name != name:
            raise UnavailableError(f"its catalog record names another collection ({spec.name!r})")
        return record


def collection_schema(record: Record) -> Any:
    """The Milvus schema of a new collection."""
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(
        auto_id=False,
        enable_dynamic_field=False,
        description=f"simsearch collection {record.spec.name} ({record.uid})",
    )
    schema.add_field(ID, DataType.VARCHAR, is_primary=True, max_length=MAX_ID_BYTES)
    schema.add_field(TEXT, DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
    schema.add_field(METADATA, DataType.JSON)
    schema.add_field(SEQ, DataType.INT64)
    schema.add_field(EMBEDDING, DataType.FLOAT_VECTOR, dim=record.spec.dimension)
    return schema
