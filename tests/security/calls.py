"""One valid call of every SimSearch RPC, through a raw stub with chosen metadata.

:func:`prepare` creates, with the write key, the collections the calls need; each call then
succeeds for a caller allowed to make it, so the access matrix shows OK, not just "not denied".
``who`` (the caller's column name) keeps the calls that create or drop collections apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc

from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc

Stub = simsearch_pb2_grpc.SimSearchStub
Metadata = Sequence[tuple[str, str]]
Call = Callable[[Stub, Metadata, str], Any]
COLLECTION = "docs"
CALIBRATED = "calibrated"  # calibration center, for Calibrate
TIMEOUT = 30.0


def bearer(key: str | None) -> Metadata:
    return [] if key is None else [("authorization", f"Bearer {key}")]


def _doc(doc_id: str, text: str) -> pb.Document:
    return pb.Document(id=doc_id, text=text)


def prepare(stub: Stub, write_key: str, callers: Sequence[str]) -> None:
    metadata = bearer(write_key)
    stub.CreateCollection(pb.CreateCollectionRequest(name=COLLECTION), metadata=metadata)
    documents = [_doc("d1", "the cat sits on the mat"), _doc("d2", "people walk in the park")]
    stub.Upsert(pb.UpsertRequest(collection=COLLECTION, documents=documents), metadata=metadata)
    for who in callers:
        stub.CreateCollection(pb.CreateCollectionRequest(name=f"drop_{who}"), metadata=metadata)
    center = pb.Calibration(kind=pb.CALIBRATION_KIND_CENTER)
    stub.CreateCollection(
        pb.CreateCollectionRequest(name=CALIBRATED, calibration=center), metadata=metadata
    )
    stub.Upsert(pb.UpsertRequest(collection=CALIBRATED, documents=documents), metadata=metadata)


def _classify(stub: Stub, metadata: Metadata, who: str) -> Any:
    """Classify past authentication: the session's tiny model has no classification head, so
    the engine's FAILED_PRECONDITION (after the key was accepted) counts as allowed."""
    try:
        return stub.Classify(
            pb.ClassifyRequest(pairs=[pb.TextPair(a="a cat", b="a dog")]),
            metadata=metadata,
            timeout=TIMEOUT,
        )
    except grpc.RpcError as error:
        assert isinstance(error, grpc.Call)
        if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
            raise
        assert "classification head" in (error.details() or ""), error.details()
        return None


def _upsert_stream(stub: Stub, metadata: Metadata, who: str) -> Any:
    chunks = iter([pb.UpsertRequest(collection=COLLECTION, documents=[_doc(f"s_{who}", "hello")])])
    return stub.UpsertStream(chunks, metadata=metadata, timeout=TIMEOUT)


CALLS: dict[str, Call] = {
    "Info": lambda s, m, w: s.Info(pb.InfoRequest(), metadata=m, timeout=TIMEOUT),
    "Encode": lambda s, m, w: s.Encode(
        pb.EncodeRequest(texts=["hello world"]), metadata=m, timeout=TIMEOUT
    ),
    "EncodeTokens": lambda s, m, w: s.EncodeTokens(
        pb.EncodeTokensRequest(texts=["hello world"]), metadata=m, timeout=TIMEOUT
    ),
    "Compare": lambda s, m, w: s.Compare(
        pb.CompareRequest(pairs=[pb.TextPair(a="a cat", b="a dog")]), metadata=m, timeout=TIMEOUT
    ),
    "CreateCollection": lambda s, m, w: s.CreateCollection(
        pb.CreateCollectionRequest(name=f"new_{w}"), metadata=m, timeout=TIMEOUT
    ),
    "DescribeCollection": lambda s, m, w: s.DescribeCollection(
        pb.DescribeCollectionRequest(name=COLLECTION), metadata=m, timeout=TIMEOUT
    ),
    "ListCollections": lambda s, m, w: s.ListCollections(
        pb.ListCollectionsRequest(), metadata=m, timeout=TIMEOUT
    ),
    "DropCollection": lambda s, m, w: s.DropCollection(
        pb.DropCollectionRequest(name=f"drop_{w}"), metadata=m, timeout=TIMEOUT
    ),
    "Upsert": lambda s, m, w: s.Upsert(
        pb.UpsertRequest(collection=COLLECTION, documents=[_doc(f"u_{w}", "hello")]),
        metadata=m,
        timeout=TIMEOUT,
    ),
    "UpsertStream": _upsert_stream,
    "Get": lambda s, m, w: s.Get(
        pb.GetRequest(collection=COLLECTION, ids=["d1"]), metadata=m, timeout=TIMEOUT
    ),
    "Delete": lambda s, m, w: s.Delete(
        pb.DeleteRequest(collection=COLLECTION, ids=["absent"]), metadata=m, timeout=TIMEOUT
    ),
    "Export": lambda s, m, w: list(
        s.Export(pb.ExportRequest(collection=COLLECTION), metadata=m, timeout=TIMEOUT)
    ),
    "MinePairs": lambda s, m, w: list(
        s.MinePairs(pb.MinePairsRequest(collection=COLLECTION), metadata=m, timeout=TIMEOUT)
    ),
    "Search": lambda s, m, w: s.Search(
        pb.SearchRequest(collection=COLLECTION, texts=["a cat"], k=2), metadata=m, timeout=TIMEOUT
    ),
    "Classify": _classify,
    "Calibrate": lambda s, m, w: s.Calibrate(
        pb.CalibrateRequest(name=CALIBRATED), metadata=m, timeout=TIMEOUT
    ),
    "Rerank": lambda s, m, w: s.Rerank(
        pb.RerankRequest(
            collection=COLLECTION, queries=[pb.RerankQuery(text="a cat", ids=["d1", "d2"])]
        ),
        metadata=m,
        timeout=TIMEOUT,
    ),
}


def outcome(call: Call, stub: Stub, metadata: Metadata, who: str) -> grpc.StatusCode:
    """The status code of one call (OK when it returns)."""
    try:
        call(stub, metadata, who)
    except grpc.RpcError as error:
        assert isinstance(error, grpc.Call)
        return error.code()
    return grpc.StatusCode.OK
