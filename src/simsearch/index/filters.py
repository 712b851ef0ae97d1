"""Metadata equality filters: as SQL over the store's JSON ``metadata`` column, and in Python.

A filter matches a document when every key is present at the top level of its metadata with an
equal scalar: strings by value, numbers numerically (``1 == 1.0``), booleans only booleans
(``True != 1``), ``None`` only JSON ``null``. Each key becomes an ``EXISTS`` over SQLite's
``json_each`` with the key bound as a parameter, so keys with dots, quotes or ``$`` need no
JSON-path quoting and cannot inject anything.

``json_each`` cuts keys and strings at U+0000 (``"a\\u0000b"`` would equal ``"a"``), so a key or
string holding one is refused here, as the engine refuses it in stored metadata. The clauses
are joined as a balanced tree: SQLite refuses an expression nested 1,000 deep ("Expression
tree is too large"), which a flat chain of 991 ANDs reaches.

:func:`matches` (``simsearch.metadata_filter``) is the same rule in Python, for backends whose
own filters are looser (Milvus re-checks every hit with it); tests/scaleout/contract holds
both to the same expectations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from simsearch.errors import InvalidArgumentError, quoted
from simsearch.metadata_filter import INT64_MAX, matches

__all__ = ["filter_sql", "matches"]

_MATCH = "EXISTS (SELECT 1 FROM json_each(docs.metadata) AS m WHERE m.key = ? AND {condition})"


def filter_sql(filter: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """``(where, params)`` for ``SELECT ... FROM docs WHERE <where>``; ``"1"`` for ``{}``.

    InvalidArgumentError for a non-string key or a value that is not a scalar.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for key, value in filter.items():
        if not isinstance(key, str):
            raise InvalidArgumentError(f"filter key {quoted(repr(key))} is not a string")
        _refuse_nul(f"filter key {quoted(key)}", key)
        condition, values = _condition(key, value)
        clauses.append(_MATCH.format(condition=condition))
        params += [key, *values]
    return (_all_of(clauses) if clauses else "1"), params


def _all_of(clauses: list[str]) -> str:
    """``clauses`` joined by AND as a balanced tree: nested log2(n) deep, not n."""
    if len(clauses) == 1:
        return clauses[0]
    middle = len(clauses) // 2
    return f"({_all_of(clauses[:middle])}) AND ({_all_of(clauses[middle:])})"


def _refuse_nul(field: str, text: str) -> None:
    if "\0" in text:
        raise InvalidArgumentError(
            f"{field} contains the character U+0000, which metadata and filters may not"
        )


def _condition(key: str, value: Any) -> tuple[str, list[Any]]:
    if value is None:
        return "m.type = 'null'", []
    if isinstance(value, bool):
        return ("m.type = 'true'" if value else "m.type = 'false'"), []
    if isinstance(value, (int, float)):
        return "m.type IN ('integer', 'real') AND m.value = ?", [_number(key, value)]
    if isinstance(value, str):
        _refuse_nul(f"filter[{quoted(key)}]", value)
        return "m.type = 'text' AND m.value = ?", [value]
    raise InvalidArgumentError(
        f"filter[{quoted(key)}] is a {type(value).__name__}; filters compare scalar values "
        "(string, number, boolean, null)"
    )


def _number(key: str, value: int | float) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgumentError(f"filter[{quoted(key)}] is not a finite number")
    if isinstance(value, int) and abs(value) > INT64_MAX:
        return float(value)  # SQLite parses such JSON integers as reals too
    return value
