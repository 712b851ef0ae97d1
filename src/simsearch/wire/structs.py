"""JSON-like dicts <-> ``google.protobuf.Struct``.

Struct numbers are doubles, so an integer sent as metadata would come back as ``2012.0``; the
decoder turns integral values within 2**53 back into ``int`` so metadata round-trips as written.
It reads each ``Value`` once, by its kind: a Value with no kind set (which protobuf's own JSON
form would turn into null) is refused, naming its key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2

from simsearch.errors import InvalidArgumentError, quoted

__all__ = ["dict_to_struct", "struct_to_dict"]

_EXACT_INT = 2**53
_NOT_FINITE = "metadata and filters hold finite numbers only"


def dict_to_struct(values: Mapping[str, Any] | None) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    if values:
        try:
            struct.update(values)  # reads the mapping's items: no copy of it
        except (ValueError, TypeError) as exc:
            raise InvalidArgumentError(f"metadata is not JSON-like: {exc}") from None
    return struct


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """Decode a Struct in one pass; InvalidArgumentError for a non-finite number (JSON cannot
    hold one) or a Value with no kind set (naming its key)."""
    try:
        return _fields(struct)
    except _NoKindError as exc:
        key, *inner = reversed(exc.path)
        raise InvalidArgumentError(
            f"key {key}{''.join(inner)} holds a google.protobuf.Value with no kind set: set one "
            "(null_value for null)"
        ) from None


class _NoKindError(Exception):
    """A Value with no kind. ``path`` gathers where it is on the way up, innermost first: the
    top-level key quoted, then ``[key]`` and ``[index]`` below it."""

    def __init__(self) -> None:
        super().__init__()
        self.path: list[str] = []


def _fields(struct: struct_pb2.Struct, nested: bool = False) -> dict[str, Any]:
    plain = {}
    for name, value in struct.fields.items():
        try:
            plain[name] = _plain(value)
        except _NoKindError as exc:
            exc.path.append(f"[{quoted(name)}]" if nested else quoted(name))
            raise
    return plain


def _plain(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return _number(value.number_value)
    if kind == "bool_value":
        return value.bool_value
    if kind == "null_value":
        return None
    if kind == "struct_value":
        return _fields(value.struct_value, nested=True)
    if kind == "list_value":
        items = []
        for i, item in enumerate(value.list_value.values):
            try:
                items.append(_plain(item))
            except _NoKindError as exc:
                exc.path.append(f"[{i}]")
                raise
        return items
    raise _NoKindError


def _number(number: float) -> float | int:
    if not math.isfinite(number):
        raise InvalidArgumentError(_NOT_FINITE)
    if number.is_integer() and abs(number) < _EXACT_INT:
        return int(number)
    return number
