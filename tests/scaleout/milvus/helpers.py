"""Helpers of the Milvus backend's tests: unique collection names and specs."""

from __future__ import annotations

import itertools

from simsearch.types import CollectionSpec, Pooling

_NAMES = itertools.count()


def unique_name(prefix: str = "t") -> str:
    """A collection name no other test of the session uses (the server is shared)."""
    return f"{prefix}-{next(_NAMES)}"


def make_spec(
    name: str, index: str = "flat", dimension: int = 8, **changes: object
) -> CollectionSpec:
    fields: dict[str, object] = {
        "name": name,
        "pooling": Pooling.MEAN,
        "index": index,
        "dimension": dimension,
        "model_name": "tiny",
        "model_fingerprint": "f" * 16,
    }
    fields.update(changes)
    return CollectionSpec(**fields)  # type: ignore[arg-type]
