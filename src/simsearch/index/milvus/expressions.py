"""Milvus filter expressions, quoted safely, and the exact re-check of every hit.

Milvus 2.3 has no expression templates, so values are quoted here, never interpolated: a string
becomes a double-quoted literal with ``\\``, ``"``, newline, carriage return and tab escaped
(the escapes both Milvus 2.3 and milvus-lite decode; ``\\u`` escapes are not decoded by
milvus-lite, so other characters are written as they are, in UTF-8). A demonstrated injection
was a value ``x" or id != "`` closing the literal: escaped, it is one string.

The expression sent to Milvus (:func:`pushdown`) only narrows the candidates; it must never
drop a document that matches, and it may keep some that do not, because the two Milvus
implementations differ from simsearch's equality (``simsearch.index.filters``), and from each
other, measured:

- milvus-lite: ``metadata["k"] == 1`` also matches ``true`` (and ``== 0`` matches ``false``);
  Milvus 2.3 keeps booleans apart.
- neither has a ``null`` literal; ``exists metadata["k"]`` keeps keys holding null on Milvus
  2.3 but drops them on milvus-lite. A ``None`` condition is therefore not pushed down.
- key literals: Milvus 2.3 decodes ``\\"`` in a key but not ``\\u`` and refuses ``""``. Only keys
  of printable ASCII without ``"`` and ``\\`` are pushed down.
- integers beyond int64 are not pushed down (both parse JSON numbers as int64 or double).

So every hit is re-checked by ``index.filters.matches``, with simsearch's rules: every key
present at the top level with an equal scalar; strings by value; numbers numerically
(``1 == 1.0``); booleans only booleans; ``None`` only null (a missing key is not null). The
collection asks for more candidates when the re-check drops some (``collection``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["FIELD", "id_in", "pushdown", "quote_string"]

FIELD = "metadata"  # the JSON field documents' metadata live in
_INT64 = 2**63 - 1
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote_string(text: str) -> str | None:
    """``text`` as a Milvus string literal, or None when it cannot be written as one that both
    implementations read back unchanged (it holds a surrogate, not UTF-8 encodable, or NUL)."""
    if "\0" in text or not _utf8(text):
        return None
    return '"' + "".join(_ESCAPES.get(char, char) for char in text) + '"'


def id_in(field: str, ids: Iterable[str]) -> str | None:
    """``field in ["a", "b"]`` for the ids that can be quoted (others cannot be stored), None
    when none can."""
    quoted = [literal for literal in map(quote_string, ids) if literal is not None]
    return f"{field} in [{', '.join(quoted)}]" if quoted else None


def pushdown(filter: Mapping[str, Any]) -> str:
    """An expression every matching document satisfies (the conditions Milvus evaluates the
    way simsearch does, or more loosely), joined by ``and``; "" when none can be pushed down.
    The caller re-checks hits with ``index.filters.matches``."""
    conditions = [
        condition
        for condition in (_condition(key, value) for key, value in filter.items())
        if condition is not None
    ]
    return " and ".join(conditions)


def _condition(key: Any, value: Any) -> str | None:
    if not isinstance(key, str) or not _plain_key(key):
        return None
    literal = _literal(value)
    return None if literal is None else f'{FIELD}["{key}"] == {literal}'


def _plain_key(key: str) -> bool:
    return bool(key) and all(" " <= char <= "~" and char not in '"\\' for char in key)


def _literal(value: Any) -> str | None:
    if value is None:
        return None  # no null literal; see the module docstring
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) <= _INT64 else None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return quote_string(value)
    return None


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
