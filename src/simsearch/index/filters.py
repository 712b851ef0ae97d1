"""Metadata equality filters as SQL over the store's JSON ``metadata`` column.

A filter matches a document when every key is present at the top level of its metadata with an
equal scalar: strings by value, numbers numerically (``1 == 1.0``), booleans only booleans
(``True != 1``), ``None`` only JSON ``null``. Each key becomes an ``EXISTS`` over SQLite's
``json_each`` with the key bound as a parameter, so keys with dots, quotes or ``$`` need no
JSON-path quoting and cannot inject anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from simsearch.errors import InvalidArgumentError

__all__ = ["filter_sql"]

_INT64 = 2**63 - 1
_MATCH = "EXISTS (SELECT 1 FROM json_each(docs.metadata) AS m WHERE m.key = ? AND {condition})"


def filter_sql(filter: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """``(where, params)`` for ``SELECT ... FROM docs WHERE <where>``; ``"1"`` for ``{}``.

    InvalidArgumentError for a non-string key or a value that is not a scalar.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for key, value in filter.items():
        if not isinstance(key, str):
            raise InvalidArgumentError(f"filter key {key!r} is not a string")
        condition, values = _condition(key, value)
        clauses.append(_MATCH.format(condition=condition))
        params += [key, *values]
    return (" AND ".join(clauses) or "1"), params


def _condition(key: str, value: Any) -> tuple[str, list[Any]]:
    if value is None:
        return "m.type = 'null'", []
    if isinstance(value, bool):
        return ("m.type = 'true'" if value else "m.type = 'false'"), []
    if isinstance(value, (int, float)):
        return "m.type IN ('integer', 'real') AND m.value = ?", [_number(key, value)]
    if isinstance(value, str):
        return "m.type = 'text' AND m.value = ?", [value]
    raise InvalidArgumentError(
        f"filter[{key!r}] is a {type(value).__name__}; filters compare scalar values "
        "(string, number, boolean, null)"
    )


def _number(key: str, value: int | float) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgumentError(f"filter[{key!r}] is not a finite number")
    if isinstance(value, int) and abs(value) > _INT64:
        return float(value)  # SQLite parses such JSON integers as reals too
    return value
