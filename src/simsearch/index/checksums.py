"""Row checksums of the store: CRC-32 over what a row serves, bound to the row's label.

SQLite pages carry no checksums: a flipped bit inside a stored text passes ``PRAGMA
quick_check`` and would be served as it is. So every row keeps checksums computed from the
values it was written with, in the same commit, and each read that serves a value computes
them again; a mismatch means the row is damaged and it is not served (``Store``).

A document row has two, so that each read checks only what it reads: ``content_crc`` over the
id, text and metadata JSON (Get, search hits) and ``vector_crc`` over the embedding (vectors for
rescoring, filtered exact search, replay and rebuilds). A tokens row has ``crc`` over its kinds
and vectors. Each covers the label too, so a value that lands in another row is caught as well.

CRC-32 (zlib) is the fastest check in the standard library (over 1 GB/s here; BLAKE2b about a
quarter of that), and the damage it guards against is random, not an adversary: it catches
every burst of damage up to 32 bits long (a flipped bit, a changed byte) and misses other
damage with probability 2^-32. Strings are hashed as UTF-8, as SQLite stores them; text read
back is decoded with ``surrogateescape`` (:func:`decode_text`), so bytes that are no longer
UTF-8 still hash to what is on disk and are reported as damage, not as a decoding error.
"""

from __future__ import annotations

import zlib

__all__ = ["content_crc", "content_crc_of_bytes", "decode_text", "tokens_crc", "vector_crc"]

_SEED = 2**32  # a label seeds a CRC modulo this (a CRC-32 starts from a 32-bit value)


def content_crc(label: int, doc_id: str, text: str, metadata: str) -> int:
    """Checksum of a document's id, text and metadata JSON (unsigned 32-bit). One string,
    framed by the lengths so that no two splits of it hash alike, and one CRC call: about
    1 microsecond for a short document."""
    framed = f"{label}:{len(doc_id)}:{len(metadata)}:{doc_id}{metadata}{text}"
    return zlib.crc32(framed.encode("utf-8", "surrogateescape"))


def content_crc_of_bytes(label: int, doc_id: bytes, text: bytes, metadata: bytes) -> int:
    """:func:`content_crc` of the stored bytes (the schema migration reads them as BLOBs)."""
    return content_crc(label, *(decode_text(value) for value in (doc_id, text, metadata)))


def vector_crc(label: int, embedding: bytes) -> int:
    """Checksum of a document's embedding bytes (``d`` float32 LE), seeded with its label."""
    return zlib.crc32(embedding, label % _SEED)


def tokens_crc(label: int, kinds: bytes, vectors: bytes) -> int:
    """Checksum of a document's token kinds and token vectors, seeded with its label."""
    return zlib.crc32(vectors, zlib.crc32(kinds, label % _SEED))


def decode_text(stored: bytes) -> str:
    """TEXT as stored, decoded without failing (the store reads with it when a value is not
    UTF-8): such bytes (damage) become lone surrogates that encode back to the same bytes, so
    the row's checksum reports them."""
    return stored.decode("utf-8", "surrogateescape")
