"""Milvus' own limits, checked before any write or search so that a caller gets a clear
InvalidArgumentError instead of a Milvus error halfway through a batch.

Measured on Milvus 2.3.5 (milvus-lite enforces fewer; simsearch applies the same limits to
both, so data that fits one fits the other): VARCHAR fields hold at most 65,535 bytes of UTF-8
(document texts; ids are at most 512 characters, so 2,048 bytes, the id field's length); a JSON
field at most 65,536 bytes as Milvus serialises it (compact, UTF-8); a search returns at most
16,384 hits per query (topk) for at most 16,384 queries; vectors have at most 32,768
dimensions. Strings must be UTF-8 (a lone surrogate is not).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from simsearch.errors import InvalidArgumentError, quoted
from simsearch.types import Document

__all__ = [
    "MAX_DIMENSION",
    "MAX_ID_BYTES",
    "MAX_JSON_BYTES",
    "MAX_NQ",
    "MAX_TEXT_BYTES",
    "MAX_TOPK",
    "check_dimension",
    "check_documents",
    "check_k",
    "check_queries",
    "metadata_bytes",
]

MAX_TEXT_BYTES = 65_535
MAX_ID_BYTES = 2_048
MAX_JSON_BYTES = 65_536
MAX_TOPK = 16_384
MAX_NQ = 16_384
MAX_DIMENSION = 32_768


def check_dimension(dimension: int) -> None:
    if not 1 <= dimension <= MAX_DIMENSION:
        raise InvalidArgumentError(
            f"dimension {dimension} is outside Milvus' range 1..{MAX_DIMENSION}"
        )


def check_documents(documents: Sequence[Document]) -> None:
    """Ids, texts and metadata that Milvus stores as they are."""
    for i, doc in enumerate(documents):
        id_bytes = _utf8(f"documents[{i}].id", doc.id)
        if id_bytes > MAX_ID_BYTES:
            raise InvalidArgumentError(
                f"documents[{i}].id is {id_bytes:,} bytes of UTF-8; Milvus collections take ids "
                f"of at most {MAX_ID_BYTES:,}"
            )
        text_bytes = _utf8(f"documents[{i}].text", doc.text)
        if text_bytes > MAX_TEXT_BYTES:
            raise InvalidArgumentError(
                f"documents[{i}].text is {text_bytes:,} bytes of UTF-8; a Milvus VARCHAR field "
                f"holds at most {MAX_TEXT_BYTES:,} (split the text into several documents)"
            )
        size = metadata_bytes(f"documents[{i}].metadata", doc.metadata)
        if size > MAX_JSON_BYTES:
            raise InvalidArgumentError(
                f"documents[{i}].metadata is {size:,} bytes as JSON; a Milvus JSON field holds "
                f"at most {MAX_JSON_BYTES:,}"
            )


def metadata_bytes(field: str, metadata: object) -> int:
    """Size of ``metadata`` as Milvus serialises it (compact JSON, UTF-8)."""
    try:
        text = json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{field} is not JSON with finite numbers: {exc}") from None
    return _utf8(field, text)


def check_k(k: int) -> None:
    if k > MAX_TOPK:
        raise InvalidArgumentError(
            f"k is {k:,}; a Milvus search returns at most {MAX_TOPK:,} hits per query"
        )


def check_queries(count: int) -> None:
    if count > MAX_NQ:
        raise InvalidArgumentError(
            f"{count:,} query vectors; a Milvus search takes at most {MAX_NQ:,} at once"
        )


def _utf8(field: str, text: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(
            f"{field} is not valid Unicode text (character {quoted(text[exc.start : exc.end])} "
            f"at {exc.start} cannot be stored)"
        ) from None
