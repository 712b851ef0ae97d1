"""``engine.exporting``: pages read one at a time as chunks are taken, chunks cut to fit one
message, the chunk size rules, and the size estimate of an exported document against the real
message."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simsearch.engine import exporting, sizes
from simsearch.engine.validation import check_export
from simsearch.errors import InvalidArgumentError, LimitExceededError
from simsearch.types import CollectionSpec, Document, Limits, Pooling
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire.documents import document_to_wire

SPEC = CollectionSpec("docs", Pooling.MEAN, "flat", 4, "m", "f")


class _Pages:
    """A collection of ``ids`` that records each page asked of it."""

    spec = SPEC

    def __init__(self, ids: list[str], text: str = "t") -> None:
        self._docs = [Document(i, text) for i in sorted(ids)]
        self.asked: list[tuple[str, int]] = []

    def documents_after(self, after_id: str, limit: int) -> list[Document]:
        self.asked.append((after_id, limit))
        return [doc for doc in self._docs if doc.id > after_id][:limit]


def _chunks(pages: _Pages, size: int, limits: Limits | None = None) -> Any:
    return exporting.chunks(pages, "", size, limits or Limits())  # type: ignore[arg-type]


def test_pages_are_read_as_chunks_are_taken() -> None:
    pages = _Pages([f"d{i}" for i in range(7)])
    chunks = _chunks(pages, 3)
    assert pages.asked == []
    assert [doc.id for doc in next(chunks)] == ["d0", "d1", "d2"]
    assert pages.asked == [("", 3)]
    assert [[doc.id for doc in chunk] for chunk in chunks] == [["d3", "d4", "d5"], ["d6"]]
    assert pages.asked == [("", 3), ("d2", 3), ("d5", 3), ("d6", 3)]  # the last one is empty


def test_nothing_to_export_is_no_chunk() -> None:
    assert list(_chunks(_Pages([]), 5)) == []


def test_chunks_fit_one_message() -> None:
    """Documents of ~1,000 bytes under a 2,500-byte limit: two a message."""
    pages = _Pages([f"d{i}" for i in range(5)], text="x" * 1000)
    chunks = list(_chunks(pages, 5, Limits(max_message_bytes=2500)))
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]
    assert pages.asked == [("", 5), ("d4", 5)]


def test_a_document_over_the_message_limit_is_refused_by_name() -> None:
    pages = _Pages(["small", "vast"], text="x" * 3000)
    with pytest.raises(LimitExceededError, match=r"document 'small' .*\(max_message_bytes\)"):
        list(_chunks(pages, 5, Limits(max_message_bytes=2500)))


@pytest.mark.parametrize(
    ("requested", "max_batch", "used"),
    [(0, 1000, 256), (0, 100, 100), (1, 100, 1), (100, 100, 100)],
)
def test_chunk_size(requested: int, max_batch: int, used: int) -> None:
    assert exporting.chunk_size(requested, Limits(max_batch=max_batch)) == used


def test_chunk_size_refusals() -> None:
    with pytest.raises(InvalidArgumentError, match="chunk_size must be positive"):
        check_export("", -1, Limits())
    with pytest.raises(LimitExceededError, match="at most 256 documents per message"):
        check_export("", 257, Limits(max_batch=256))


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.floats(allow_nan=False), st.text()
)
metadata = st.dictionaries(
    st.text(max_size=10),
    st.recursive(scalars, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)),
    max_size=5,
)


@settings(max_examples=100, deadline=None)
@given(
    doc_id=st.text(min_size=1, max_size=600),
    text=st.text(max_size=300) | st.just("y" * 20_000),
    metadata=metadata,
)
def test_the_size_estimate_is_at_least_the_message(
    doc_id: str, text: str, metadata: dict[str, Any]
) -> None:
    doc = Document(doc_id, text, metadata)
    sent = pb.ExportResponse(documents=[document_to_wire(doc)]).ByteSize()
    assert sent <= sizes.exported_document(doc) <= sent + 8
