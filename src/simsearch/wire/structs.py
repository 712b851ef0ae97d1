"""JSON-like dicts <-> ``google.protobuf.Struct``.

Struct numbers are doubles, so an integer sent as metadata would come back as ``2012.0``; the
decoder turns integral values within 2**53 back into ``int`` so metadata round-trips as written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2

from simsearch.errors import InvalidArgumentError

__all__ = ["dict_to_struct", "struct_to_dict"]

_EXACT_INT = 2**53


def dict_to_struct(values: Mapping[str, Any] | None) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    if values:
        try:
            struct.update(dict(values))
        except (ValueError, TypeError) as exc:
            raise InvalidArgumentError(f"metadata is not JSON-like: {exc}") from None
    return struct


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """Decode a Struct; non-finite numbers raise InvalidArgumentError (JSON cannot hold them)."""
    try:
        plain = json_format.MessageToDict(struct)
    except ValueError:  # NaN or infinity in a number_value
        raise InvalidArgumentError("metadata and filters hold finite numbers only") from None
    result = _restore_ints(plain)
    assert isinstance(result, dict)  # MessageToDict of a Struct is always a dict
    return result


def _restore_ints(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _restore_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore_ints(item) for item in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError("metadata and filters hold finite numbers only")
        if value.is_integer() and abs(value) < _EXACT_INT:
            return int(value)
    return value
