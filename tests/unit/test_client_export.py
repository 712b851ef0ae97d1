"""``Client.export`` against a fake server: documents as they stream, a stream cut by its
deadline after documents came resumed after the last of them, errors mapped to classes."""

# ruff: noqa: N802  (servicer methods are named after the proto's RPCs)

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from simsearch.client import Client
from simsearch.errors import DeadlineExceededError, NotFoundError
from simsearch.types import Document
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire import dict_to_struct
from unit.client_fakes import FakeSimSearch, running

DOCS = [Document(f"d{i}", f"text {i}", {"i": i}) for i in range(7)]


class _Exporting(FakeSimSearch):
    """Export in chunks of 2; the first ``cut`` streams end with DEADLINE_EXCEEDED after
    ``sent_before_cut`` documents."""

    def __init__(self, cut: int = 0, sent_before_cut: int = 3) -> None:
        super().__init__()
        self.cut = cut
        self.sent_before_cut = sent_before_cut

    def Export(self, request: pb.ExportRequest, context: Any) -> Iterator[pb.ExportResponse]:
        self._enter("Export", request, context)
        rest = [doc for doc in DOCS if doc.id > request.after_id]
        if len(self.sent("Export")) <= self.cut:
            rest = rest[: self.sent_before_cut]
        for start in range(0, len(rest), 2):
            yield pb.ExportResponse(
                documents=[
                    pb.Document(id=d.id, text=d.text, metadata=dict_to_struct(d.metadata))
                    for d in rest[start : start + 2]
                ]
            )
        if len(self.sent("Export")) <= self.cut:
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")


def test_export_yields_every_document_and_sends_the_request() -> None:
    servicer = _Exporting()
    with running(servicer) as address, Client(address) as client:
        assert list(client.export("c", after_id="d1", chunk_size=5)) == DOCS[2:]
    (request,) = servicer.sent("Export")
    assert (request.collection, request.after_id, request.chunk_size) == ("c", "d1", 5)


def test_a_stream_past_its_deadline_resumes_after_the_last_document() -> None:
    servicer = _Exporting(cut=2, sent_before_cut=3)
    with running(servicer) as address, Client(address) as client:
        assert list(client.export("c")) == DOCS
    assert [request.after_id for request in servicer.sent("Export")] == ["", "d2", "d5"]


def test_a_stream_past_its_deadline_with_nothing_sent_fails() -> None:
    servicer = _Exporting(cut=5, sent_before_cut=0)
    with (
        running(servicer) as address,
        Client(address) as client,
        pytest.raises(DeadlineExceededError),
    ):
        list(client.export("c"))
    assert len(servicer.sent("Export")) == 1


def test_export_errors_raise_their_class() -> None:
    servicer = _Exporting()
    servicer.fail("Export", grpc.StatusCode.NOT_FOUND, "collection 'c' does not exist")
    with running(servicer) as address, Client(address) as client:
        exported = client.export("c")  # nothing is asked yet
        assert servicer.sent("Export") == []
        with pytest.raises(NotFoundError, match="does not exist"):
            next(exported)
