"""Collection names: simsearch's rules mapped to Milvus' stricter ones, reversibly.

simsearch allows ``[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`` (the one rule,
``simsearch.types.is_collection_name``); Milvus allows ``[A-Za-z_][A-Za-z0-9_]*`` of at most
255 characters (names are case-sensitive in both). A simsearch name becomes ``PREFIX`` followed
by the name with ``_`` written ``__``, ``.`` written ``_d`` and ``-`` written ``_h``: letters
and digits stay, so the Milvus name stays readable in Milvus' own tools. The escape character
``_`` is always followed by one of ``_ d h``, so decoding is unambiguous and the mapping
injective; the longest name (64 characters, all escaped) is 138 characters. The prefix keeps
simsearch's collections apart from any other collection in the same Milvus: a name without it,
or with an invalid escape after it, is not simsearch's.
"""

from __future__ import annotations

from simsearch.types import is_collection_name

__all__ = ["MAX_MILVUS_NAME", "PREFIX", "simsearch_name", "to_milvus"]

PREFIX = "simsearch_"
MAX_MILVUS_NAME = 255  # Milvus' proxy.maxNameLength
_ESCAPES = {"_": "__", ".": "_d", "-": "_h"}
_UNESCAPES = {escaped[1]: char for char, escaped in _ESCAPES.items()}


def to_milvus(name: str) -> str:
    """The Milvus collection name of simsearch collection ``name`` (a valid simsearch name;
    ValueError otherwise: the engine checks names first)."""
    if not is_collection_name(name):
        raise ValueError(f"not a simsearch collection name: {name!r}")
    return PREFIX + "".join(_ESCAPES.get(char, char) for char in name)


def simsearch_name(milvus_name: str) -> str | None:
    """The simsearch name a Milvus collection name stands for, None when it is not one of
    simsearch's (no prefix, a bad escape, or a decoded name simsearch would refuse)."""
    if not milvus_name.startswith(PREFIX):
        return None
    encoded = milvus_name[len(PREFIX) :]
    chars: list[str] = []
    position = 0
    while position < len(encoded):
        char = encoded[position]
        if char == "_":
            escaped = _UNESCAPES.get(encoded[position + 1 : position + 2])
            if escaped is None:
                return None
            chars.append(escaped)
            position += 2
        else:
            chars.append(char)
            position += 1
    name = "".join(chars)
    return name if is_collection_name(name) and to_milvus(name) == milvus_name else None
