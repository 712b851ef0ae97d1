"""Answers too large for ``max_message_bytes`` are refused before any model work, through a real
server: RESOURCE_EXHAUSTED naming the size, the limit and how many items per request fit (not
gRPC's "Sent message larger than max" after the whole computation), and the advice works.

The model's forward passes are counted (``ModelRunner.forward`` is wrapped), so "before any
model work" is checked, not timed. Also: filters over ``max_filter_keys`` and NUL in metadata,
and texts with nothing to embed, get their documented codes over the wire.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import struct_pb2

from simsearch.server import RunningServer
from simsearch.types import Limits
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc
from support.security import StartServer

LIMIT = 64 * 1024
TEXT = " ".join(["the cat sits on the mat"] * 10)  # 60 tokens: with d=32, ~8.5 KB of answer
Code = grpc.StatusCode


@pytest.fixture
def server(start_server: StartServer) -> RunningServer:
    return start_server(limits=Limits(max_batch=64, max_message_bytes=LIMIT))


@pytest.fixture
def stub(server: RunningServer) -> Iterator[simsearch_pb2_grpc.SimSearchStub]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield simsearch_pb2_grpc.SimSearchStub(channel)


def refused(call: object, request: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=60)  # type: ignore[operator]
    return caught.value


def advised(error: grpc.RpcError) -> int:
    details = error.details() or ""
    found = re.search(r"send at most ([\d,]+) ", details)
    assert found, details
    return int(found.group(1).replace(",", ""))


def test_encode_tokens_too_large_is_refused_before_the_model(
    stub: simsearch_pb2_grpc.SimSearchStub, forward_passes: list[int]
) -> None:
    error = refused(stub.EncodeTokens, pb.EncodeTokensRequest(texts=[TEXT] * 64))
    assert error.code() == Code.RESOURCE_EXHAUSTED
    details = error.details() or ""
    assert "max_message_bytes" in details and f"{LIMIT:,}" in details, details
    assert forward_passes == []
    fit = advised(error)
    answer = stub.EncodeTokens(pb.EncodeTokensRequest(texts=[TEXT] * fit), timeout=60)
    assert len(answer.items) == fit and answer.ByteSize() <= LIMIT
    assert forward_passes  # now the model ran
    over = refused(stub.EncodeTokens, pb.EncodeTokensRequest(texts=[TEXT] * (fit + 1)))
    assert over.code() == Code.RESOURCE_EXHAUSTED


def test_similarity_matrices_too_large_are_refused_before_the_model(
    stub: simsearch_pb2_grpc.SimSearchStub, forward_passes: list[int]
) -> None:
    pair = pb.TextPair(a=TEXT, b=TEXT)
    request = pb.CompareRequest(pairs=[pair] * 32, similarity_matrix=True)
    error = refused(stub.Compare, request)
    assert error.code() == Code.RESOURCE_EXHAUSTED
    assert "pairs per request" in (error.details() or "")
    assert forward_passes == []
    fit = advised(error)
    answer = stub.Compare(pb.CompareRequest(pairs=[pair] * fit, similarity_matrix=True), timeout=60)
    assert len(answer.alignments) == fit and answer.ByteSize() <= LIMIT


def test_search_hits_too_large_are_refused_with_advice(
    stub: simsearch_pb2_grpc.SimSearchStub,
) -> None:
    stub.CreateCollection(pb.CreateCollectionRequest(name="docs"), timeout=60)
    long_text = "the cat sits " * 1540  # 20,000 characters, cut to 64 tokens when embedded
    for first in (0, 2):  # two documents per request: four would be over the limit
        documents = [pb.Document(id=f"d{i}", text=f"{long_text}{i}") for i in (first, first + 1)]
        upsert = pb.UpsertRequest(collection="docs", documents=documents, truncate=True)
        stub.Upsert(upsert, timeout=60)
    error = refused(stub.Search, pb.SearchRequest(collection="docs", texts=["cat"], k=4))
    assert error.code() == Code.RESOURCE_EXHAUSTED
    assert "lower k" in (error.details() or "")
    answer = stub.Search(pb.SearchRequest(collection="docs", texts=["cat"], k=2), timeout=60)
    assert len(answer.results[0].hits) == 2


def struct(values: dict[str, object]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def keys(count: int) -> dict[str, object]:
    return {f"k{i}": i for i in range(count)}


def search(filter: dict[str, object] | None = None, text: str = "cat") -> pb.SearchRequest:
    request = pb.SearchRequest(collection="docs", texts=[text], k=1)
    if filter is not None:
        request.filter.CopyFrom(struct(filter))
    return request


def test_filters_nul_and_empty_texts_get_their_codes(
    stub: simsearch_pb2_grpc.SimSearchStub, forward_passes: list[int]
) -> None:
    stub.CreateCollection(pb.CreateCollectionRequest(name="docs"), timeout=60)
    fine = pb.Document(id="a", text="a cat", metadata=struct({"s": "a", **keys(63)}))
    stub.Upsert(pb.UpsertRequest(collection="docs", documents=[fine]), timeout=60)
    forward_passes.clear()
    refusals = [
        (stub.Search, search(keys(65)), Code.RESOURCE_EXHAUSTED),
        (stub.Search, search(keys(1000)), Code.RESOURCE_EXHAUSTED),  # was UNAVAILABLE
        (stub.Search, search({"s": "a\0b"}), Code.INVALID_ARGUMENT),
        (stub.Search, search(text="\u200b\u0301\0"), Code.INVALID_ARGUMENT),
        (stub.Encode, pb.EncodeRequest(texts=["\0\0", "ok"]), Code.INVALID_ARGUMENT),
        (
            stub.Upsert,
            pb.UpsertRequest(
                collection="docs",
                documents=[pb.Document(id="n", text="a cat", metadata=struct({"s": "a\0b"}))],
            ),
            Code.INVALID_ARGUMENT,
        ),
    ]
    for call, request, code in refusals:
        assert refused(call, request).code() == code, request
    assert forward_passes == []
    for filter in ({"s": "a", **keys(63)}, {"s": "a"}):  # 64 keys and 1
        hits = stub.Search(search(filter), timeout=60).results[0].hits
        assert [hit.id for hit in hits] == ["a"]
