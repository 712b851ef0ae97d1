"""A thin slice of the contract through the gRPC server and the Python client, per store:
the status codes of the collection RPCs (the client raises the exception class mapped from
each code, one class per code, so an exact class is an exact code)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from simsearch.client import Client
from simsearch.config import ServerConfig
from simsearch.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    LimitExceededError,
    NotFoundError,
    SimsearchError,
)
from simsearch.server import RunningServer, build_engine, create_server
from simsearch.types import Document
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc as pb_grpc

from .stores import STORES, require_milvus_backend


@pytest.fixture(scope="module", params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest,
    store_kind: str,
    tiny_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningServer]:
    """simsearch on 127.0.0.1 over the tiny BERT, its collections in the store."""
    cache = os.environ.get("SIMSEARCH_MODEL_CACHE_DIR")  # tests/conftest.py: one per session
    settings: dict[str, object] = {}
    if store_kind != "faiss":
        require_milvus_backend()
        fixture = "milvus_lite_uri" if store_kind == "milvus-lite" else "contract_milvus_uri"
        uri: str = request.getfixturevalue(fixture)
        settings = {"store": "milvus", "milvus_uri": uri}
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        model=str(tiny_model_dir),
        data_dir=tmp_path_factory.mktemp("rpc-data"),
        model_cache_dir=Path(cache) if cache else None,
        **settings,  # type: ignore[arg-type]
    )
    running = create_server(config, build_engine(config))
    running.set_serving(True)
    yield running
    running.stop(grace=1.0)


@pytest.fixture
def client(server: RunningServer) -> Iterator[Client]:
    with Client(f"127.0.0.1:{server.port}", timeout=60) as client:
        yield client


@pytest.fixture
def name(client: Client) -> Iterator[str]:
    """A collection name unique to the test, dropped at its end."""
    made = f"rpc.{uuid.uuid4().hex[:8]}-x"
    yield made
    with contextlib.suppress(NotFoundError):
        client.drop_collection(made)


def raised(call: object, *args: object, **kwargs: object) -> type[SimsearchError]:
    """The exact class of the simsearch error ``call`` raised (fails if none)."""
    with pytest.raises(SimsearchError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return type(info.value)


def test_info_reports_the_store(client: Client, store_kind: str) -> None:
    assert client.info().store == ("faiss" if store_kind == "faiss" else "milvus")


def test_collection_rpcs_and_their_status_codes(client: Client, name: str) -> None:
    created = client.create_collection(name, pooling="mean", index="HNSW32")
    assert (created.spec.name, created.spec.pooling.value, created.spec.index, created.count) == (
        name,
        "mean",
        "HNSW32",
        0,
    )
    assert raised(client.create_collection, name) is AlreadyExistsError
    assert name in [info.spec.name for info in client.list_collections()]
    assert client.describe_collection(name).spec.dimension == 32

    missing = f"{name}-missing"
    assert raised(client.describe_collection, missing) is NotFoundError
    assert raised(client.search, missing, "x", k=1) is NotFoundError
    assert raised(client.upsert, missing, [{"id": "a", "text": "a"}]) is NotFoundError
    assert raised(client.drop_collection, missing) is NotFoundError
    assert raised(client.create_collection, missing, index="nonsense") is InvalidArgumentError
    assert missing not in [info.spec.name for info in client.list_collections()]

    client.drop_collection(name)
    assert raised(client.describe_collection, name) is NotFoundError


def test_store_tokens_over_rpc(client: Client, store_kind: str, name: str) -> None:
    """FAISS stores token embeddings; Milvus refuses with FAILED_PRECONDITION."""
    if store_kind == "faiss":
        assert client.create_collection(name, store_tokens=True).spec.store_tokens
        return
    assert raised(client.create_collection, name, store_tokens=True) is FailedPreconditionError
    assert raised(client.describe_collection, name) is NotFoundError


def test_documents_over_rpc(client: Client, store_kind: str, name: str) -> None:
    """Upsert, search with filters (booleans never equal numbers, quotes are data), get,
    stored vectors, delete; then a text of 100,000 characters (the server's max_text_chars):
    FAISS stores it, Milvus (VARCHAR: 65,535 bytes) refuses the request with INVALID_ARGUMENT
    or RESOURCE_EXHAUSTED and stores none of its documents; never INTERNAL."""
    client.create_collection(name)
    docs = [
        {"id": "cat", "text": "the cat sat on the mat", "metadata": {"flag": True, "n": 1}},
        {"id": "dog", "text": "a dog ran in the park", "metadata": {"flag": 1, "n": 1.0}},
        {"id": "q", "text": "quotes", "metadata": {"s": "a\"b\\c'd"}},
    ]
    assert client.upsert(name, docs).upserted == 3
    assert [h.id for h in client.search(name, "the cat sat on the mat", k=1)[0]] == ["cat"]
    assert [h.id for h in client.search(name, "cat", k=3, filter={"flag": True})[0]] == ["cat"]
    assert {h.id for h in client.search(name, "cat", k=3, filter={"n": 1})[0]} == {"cat", "dog"}
    assert [h.id for h in client.search(name, "x", k=3, filter={"s": "a\"b\\c'd"})[0]] == ["q"]
    assert [doc.id for doc in client.get(name, ["dog", "cat"])] == ["dog", "cat"]
    assert client.get_embeddings(name, ["cat"]).shape == (1, 32)
    assert raised(client.get_embeddings, name, ["cat", "nope"]) is NotFoundError
    assert client.delete(name, ["cat", "nope"]) == 1
    assert client.describe_collection(name).count == 2

    long = [{"id": "short", "text": "short"}, {"id": "long", "text": "word " * 20_000}]
    try:
        client.upsert(name, long, truncate=True)
    except (InvalidArgumentError, LimitExceededError) as exc:
        assert store_kind != "faiss", exc
        assert "text" in str(exc)
        assert client.describe_collection(name).count == 2
        assert raised(client.get, name, ["short"]) is NotFoundError
    else:
        assert store_kind == "faiss", "Milvus stored a text over its VARCHAR limit"
        assert client.get(name, ["long"])[0].text == "word " * 20_000
    assert [h.id for h in client.search(name, "quotes", k=1)[0]] == ["q"]


def test_export_over_rpc(client: Client, server: RunningServer, name: str) -> None:
    """Documents in code point order, a chunk per message (none empty: an empty collection's
    stream has no message), resumable after any id; the status codes of bad requests."""
    client.create_collection(name)
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.SimSearchStub(channel)

        def chunks(**fields: Any) -> list[list[str]]:
            answer = stub.Export(pb.ExportRequest(collection=name, **fields), timeout=60)
            return [[doc.id for doc in message.documents] for message in answer]

        assert chunks() == []
        ids = ["b", "Z", "é", "😀", "a", "中"]
        docs = [{"id": i, "text": f"text {i}", "metadata": {"n": n}} for n, i in enumerate(ids)]
        client.upsert(name, docs)
        assert chunks(chunk_size=4) == [["Z", "a", "b", "é"], ["中", "😀"]]
        assert chunks(after_id="b", chunk_size=1) == [["é"], ["中"], ["😀"]]
    assert list(client.export(name)) == sorted(
        (Document(d["id"], d["text"], d["metadata"]) for d in docs), key=lambda doc: doc.id
    )
    assert [doc.id for doc in client.export(name, after_id="a", chunk_size=2)] == [
        "b", "é", "中", "😀",
    ]  # fmt: skip
    assert raised(list, client.export(f"{name}-missing")) is NotFoundError
    assert raised(list, client.export(name, chunk_size=-1)) is InvalidArgumentError
    assert raised(list, client.export(name, chunk_size=257)) is LimitExceededError
