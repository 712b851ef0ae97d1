"""Hand-made protobuf wire bytes: what a well-behaved client library refuses to send.

The Python protobuf runtime will not serialize a ``string`` field holding invalid UTF-8, nor a
``Struct`` nested deeper than its recursion limit; a hostile client is not so polite. These
helpers write such fields by hand (tag, length, bytes) so they can be appended to a message's
serialized form: a field that appears again on the wire is merged (repeated fields) or replaces
the earlier value (singular ones), so the result is well-formed protobuf apart from the payload.
"""

from __future__ import annotations

INVALID_UTF8 = (
    b"\xff",  # never valid
    b"\xc3\x28",  # broken two-byte sequence
    b"\xe2\x82",  # truncated three-byte sequence
    b"\xed\xa0\x80",  # an encoded UTF-16 surrogate
    b"\xc0\xaf",  # overlong "/"
    b"\xf8\x88\x80\x80\x80",  # five-byte form
    b"ok\x80tail",  # a stray continuation byte inside text
)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def length_delimited(field: int, payload: bytes) -> bytes:
    """A field of wire type 2 (string, bytes, message)."""
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def nested_struct(depth: int) -> bytes:
    """A ``google.protobuf.Struct`` holding ``{"a": {"a": ...}}`` nested ``depth`` times."""
    struct = b""
    for _ in range(depth):
        value = length_delimited(5, struct)  # Value.struct_value = 5
        entry = length_delimited(1, b"a") + length_delimited(2, value)  # key, value
        struct = length_delimited(1, entry)  # Struct.fields (a map entry)
    return struct


# Where each request carries strings: (field number, None) for a string field of the request,
# (field number, inner field number) for a string field of a repeated sub-message.
STRING_FIELDS: dict[str, list[tuple[int, int | None]]] = {
    "Encode": [(1, None), (2, 1), (2, 2), (6, None)],
    "EncodeTokens": [(1, None), (2, 1), (2, 2)],
    "Compare": [(1, 1), (1, 2), (7, None)],
    "CreateCollection": [(1, None), (3, None)],
    "DescribeCollection": [(1, None)],
    "DropCollection": [(1, None)],
    "Upsert": [(1, None), (2, 1), (2, 2)],
    "UpsertStream": [(1, None), (2, 1), (2, 2)],
    "Get": [(1, None), (2, None)],
    "Delete": [(1, None), (2, None)],
    "Export": [(1, None), (2, None)],
    "Search": [(1, None), (2, None), (10, None)],
    "Rerank": [(1, None), (2, 1), (2, 2)],
    "Calibrate": [(1, None)],
    "Classify": [(1, None), (2, 1), (2, 2)],
    "MinePairs": [(1, None), (2, None)],
}


def with_invalid_utf8(message: bytes, where: tuple[int, int | None], bad: bytes) -> bytes:
    """``message`` with one more string (or sub-message string) holding ``bad``."""
    field, inner = where
    if inner is None:
        return message + length_delimited(field, bad)
    return message + length_delimited(field, length_delimited(inner, bad))
