"""Export through a real server: chunks and resumption, a collection built with another model
read back and moved to the loaded one, and a damaged row ending an export with DATA_LOSS."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import grpc
import pytest

from simsearch.client import Client
from simsearch.errors import DataLossError, FailedPreconditionError
from simsearch.server import RunningServer
from simsearch.types import Document
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc
from simsearch.wire import dict_to_struct
from support.in_process import serve_model
from support.tiny_bert import change_tiny_bert_weights

DOCS = [
    Document("b", "a dog runs in the park", {"kind": "animal", "n": 2}),
    Document("a", "the cat sat on the mat", {"kind": "animal", "n": 1}),
    Document("中", "我喜欢北京", {"kind": "place"}),
    Document("é", "stocks fell on monday", {"kind": "money", "n": 3.5, "ok": True}),
]
IN_ORDER = sorted(DOCS, key=lambda doc: doc.id)


def _ids(stub: simsearch_pb2_grpc.SimSearchStub, **fields: object) -> list[list[str]]:
    answer = stub.Export(pb.ExportRequest(**fields), timeout=30)  # type: ignore[arg-type]
    return [[doc.id for doc in message.documents] for message in answer]


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    assert "Traceback" not in (info.value.details() or "")
    return info.value.code()


def test_export_in_chunks_and_its_status_codes(stub: simsearch_pb2_grpc.SimSearchStub) -> None:
    stub.CreateCollection(pb.CreateCollectionRequest(name="docs"))
    assert _ids(stub, collection="docs") == []  # an empty collection: no message at all
    documents = [
        pb.Document(id=doc.id, text=doc.text, metadata=dict_to_struct(doc.metadata)) for doc in DOCS
    ]
    stub.Upsert(pb.UpsertRequest(collection="docs", documents=documents))
    assert _ids(stub, collection="docs") == [["a", "b", "é", "中"]]
    assert _ids(stub, collection="docs", chunk_size=3) == [["a", "b", "é"], ["中"]]
    assert _ids(stub, collection="docs", after_id="b", chunk_size=1) == [["é"], ["中"]]
    assert _ids(stub, collection="docs", after_id="中") == []
    codes = {
        "unknown": (pb.ExportRequest(collection="nope"), grpc.StatusCode.NOT_FOUND),
        "bad name": (pb.ExportRequest(collection="a/b"), grpc.StatusCode.INVALID_ARGUMENT),
        "negative": (
            pb.ExportRequest(collection="docs", chunk_size=-1),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        "over max_batch": (
            pb.ExportRequest(collection="docs", chunk_size=257),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ),
    }
    for what, (request, code) in codes.items():
        assert _code(lambda request=request: list(stub.Export(request, timeout=30))) == code, what


def test_an_undecodable_export_request_is_invalid_argument(server: RunningServer) -> None:
    """after_id holding bytes that are not UTF-8: the decoding interceptor's answer."""
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        export: grpc.UnaryStreamMultiCallable[bytes, bytes]
        export = channel.unary_stream("/simsearch.v1.SimSearch/Export")
        raw = b"\x0a\x04docs" + b"\x12\x01\xff"  # collection "docs", after_id b"\xff"
        assert _code(lambda: list(export(raw, timeout=30))) == grpc.StatusCode.INVALID_ARGUMENT


def test_a_collection_of_another_model_is_read_back_and_moved(
    tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Restarted under another model: one warning at start names the collection; Get, Export
    and Delete work, vectors are refused with the way out, which then works."""
    other_model = change_tiny_bert_weights(
        Path(shutil.copytree(tiny_model_dir, tmp_path / "other-model"))
    )
    data = tmp_path / "data"
    first = serve_model(tiny_model_dir, data)
    with Client(f"127.0.0.1:{first.port}") as client:
        client.create_collection("old")
        client.upsert("old", DOCS)
        client.create_collection("empty")
    first.stop(grace=1.0)

    with caplog.at_level(logging.WARNING, logger="simsearch.server"):
        second = serve_model(other_model, data)
    try:
        warnings = [r.getMessage() for r in caplog.records if "another model" in r.getMessage()]
        assert len(warnings) == 1, warnings
        assert "collection 'old'" in warnings[0] and "collection 'empty'" in warnings[0]
        with Client(f"127.0.0.1:{second.port}") as client:
            assert client.get("old", ["中", "a"]) == [DOCS[2], DOCS[1]]
            assert list(client.export("old")) == IN_ORDER
            messages = []
            for refused in (
                lambda: client.search("old", "a cat", k=1),
                lambda: client.upsert("old", [{"id": "x", "text": "x"}]),
                lambda: client.get_embeddings("old", ["a"]),
            ):
                with pytest.raises(FailedPreconditionError) as caught:
                    refused()
                messages.append(str(caught.value))
            assert all("simsearch export old > docs.jsonl" in m for m in messages), messages
            assert "vectors are that model's" in messages[-1]
            assert client.delete("old", ["b"]) == 1

            # the way out the message gives, through the client
            exported = list(client.export("old"))
            client.drop_collection("old")
            client.create_collection("old")
            assert client.upsert("old", exported).upserted == 3
            assert client.describe_collection("old").compatible
            assert client.search("old", "the cat sat on the mat", k=1)[0][0].id == "a"
    finally:
        second.stop(grace=1.0)


def test_a_damaged_row_ends_the_export_with_data_loss(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = serve_model(tiny_model_dir, data)
    docs = [Document(f"d{i}", f"music chair {i}") for i in range(6)]
    with Client(f"127.0.0.1:{first.port}") as client:
        client.create_collection("docs")
        client.upsert("docs", docs)
    first.stop(grace=1.0)
    store = data / "docs" / "store.sqlite3"
    content = bytearray(store.read_bytes())
    assert content.count(b"music chair 3") == 1
    content[content.index(b"music chair 3")] ^= 0x01  # "music" -> "lusic": valid, wrong
    store.write_bytes(bytes(content))

    second = serve_model(tiny_model_dir, data)
    try:
        with Client(f"127.0.0.1:{second.port}") as client:
            received: list[str] = []
            with pytest.raises(DataLossError, match="document 'd3' is damaged"):
                received.extend(doc.id for doc in client.export("docs", chunk_size=1))
            assert received == ["d0", "d1", "d2"]  # the chunks before it came
            resumed = [doc.id for doc in client.export("docs", after_id="d3")]
            assert resumed == ["d4", "d5"]
    finally:
        second.stop(grace=1.0)
