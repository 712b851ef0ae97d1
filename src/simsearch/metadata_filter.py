"""The rule of a metadata equality filter, in Python: one rule for every layer that applies one.

A filter matches a document when every key is present at the top level of its metadata with an
equal scalar: strings by value, numbers numerically (``1 == 1.0``), booleans only booleans
(``True != 1``), ``None`` only JSON ``null``. The FAISS store applies the same rule in SQL
(``index.filters``), Milvus re-checks its hits with it, and mining applies it to the documents
it reads; tests hold the SQL and this to the same expectations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["INT64_MAX", "as_read", "matches"]

INT64_MAX = 2**63 - 1


def matches(metadata: Mapping[str, Any], filter: Mapping[str, Any]) -> bool:
    """Whether ``metadata`` matches a checked ``filter`` (scalar values only)."""
    return all(key in metadata and _equal(metadata[key], value) for key, value in filter.items())


def _equal(stored: Any, wanted: Any) -> bool:
    if wanted is None:
        return stored is None
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return isinstance(wanted, bool) and isinstance(stored, bool) and stored == wanted
    if isinstance(wanted, (int, float)):
        return isinstance(stored, (int, float)) and as_read(stored) == as_read(wanted)
    if isinstance(wanted, str):
        return isinstance(stored, str) and stored == wanted
    return False


def as_read(value: int | float) -> int | float:
    """As SQLite reads a JSON number: an integer beyond int64 is a double."""
    return float(value) if isinstance(value, int) and abs(value) > INT64_MAX else value
