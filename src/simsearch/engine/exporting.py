"""Export: every document of a collection in id order, as chunks that each fit one message.

The collection gives pages in id order (``Collection.documents_after``, a keyset page: no
offset, so a page costs the same at the end of a collection as at its start, and an export
resumes from the last id received; the request itself is checked by
``validation.check_export``). A page of ``chunk_size`` documents becomes one chunk, or
several when its documents would not fit one response under ``max_message_bytes`` together
(long texts): no chunk is ever empty, and an export with nothing to send yields no chunk.

Pages are read one at a time, when the caller asks for the next chunk, so an export holds one
page in memory, and a caller that stops asking (gone, past its deadline) stops the reads. It
is not a snapshot: a document written during an export is in it when its id sorts after the
chunks already sent, and may be missing otherwise; deleted documents may have been sent.
"""

from __future__ import annotations

from collections.abc import Iterator

from simsearch.engine import sizes
from simsearch.engine.ports import Collection
from simsearch.errors import quoted
from simsearch.types import Document, Limits

__all__ = ["DEFAULT_CHUNK_SIZE", "chunk_size", "chunks"]

DEFAULT_CHUNK_SIZE = 256  # documents per chunk when the request leaves it at 0


def chunk_size(requested: int, limits: Limits) -> int:
    """The chunk size of a checked request: 0 means ``DEFAULT_CHUNK_SIZE`` (at most
    ``max_batch``)."""
    return requested or min(DEFAULT_CHUNK_SIZE, limits.max_batch)


def chunks(
    collection: Collection, after_id: str, size: int, limits: Limits
) -> Iterator[list[Document]]:
    """Chunks of at most ``size`` documents after ``after_id``, in id order, each fitting
    one response message; see the module docstring."""
    name = collection.spec.name

    def too_big(doc: Document, size: int) -> str:
        return (
            f"document {quoted(doc.id)} of collection {name!r} takes {size:,} bytes in a "
            f"response, over the server's limit of {limits.max_message_bytes:,} "
            "(max_message_bytes): start the server with a higher limit to export it"
        )

    while page := collection.documents_after(after_id, size):
        yield from sizes.fitting_runs(
            page, sizes.exported_document, limits.max_message_bytes, size, too_big
        )
        after_id = page[-1].id
