"""Every RPC through a real server and the generated stub, including the error statuses."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire import array_to_tensor, dict_to_struct, struct_to_dict, tensor_to_array
from support.in_process import serve_model

DOCS = [
    ("a", "the cat sat on the mat", {"kind": "animal", "n": 1}),
    ("b", "a dog runs in the park", {"kind": "animal", "n": 2}),
    ("c", "stocks fell on monday", {"kind": "money", "n": 3}),
    ("d", "我喜欢北京", {"kind": "place", "n": 4}),
]


def _fill(stub, name: str = "docs") -> None:
    stub.CreateCollection(pb.CreateCollectionRequest(name=name))
    documents = [pb.Document(id=i, text=t, metadata=dict_to_struct(m)) for i, t, m in DOCS]
    assert stub.Upsert(pb.UpsertRequest(collection=name, documents=documents)).upserted == 4


def _code(call, request) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call(request)
    assert "Traceback" not in info.value.details()
    return info.value.code()


def test_info_and_health(stub, server) -> None:
    info = stub.Info(pb.InfoRequest())
    assert info.model.hidden_size == 32 and info.model.fingerprint
    assert info.limits.max_k == 1000 and info.version
    assert (info.model.encoder, info.model.replicas, info.store) == ("local", 1, "faiss")
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_encode_and_tokens_and_compare(stub) -> None:
    response = stub.Encode(pb.EncodeRequest(texts=["hello world", "the cat"], normalize=True))
    vectors = tensor_to_array(response.embeddings)
    assert vectors.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    pairs = stub.Encode(pb.EncodeRequest(pairs=[pb.TextPair(a="the cat", b="a dog")]))
    assert tensor_to_array(pairs.embeddings).shape == (1, 32)
    tokens = stub.EncodeTokens(pb.EncodeTokensRequest(texts=["我喜欢北京"])).items[0]
    assert tokens.tokens[0] == "[CLS]" and tokens.special[0]
    assert tensor_to_array(tokens.embeddings).shape == (len(tokens.tokens), 32)
    assert [
        "我喜欢北京"[s:e] for s, e in zip(tokens.starts[1:-1], tokens.ends[1:-1], strict=True)
    ] == list("我喜欢北京")
    same = stub.Compare(pb.CompareRequest(pairs=[pb.TextPair(a="the cat", b="the cat")]))
    assert same.scores[0] == pytest.approx(1.0, abs=1e-5)


def test_collection_lifecycle_and_search(stub) -> None:
    _fill(stub)
    listed = stub.ListCollections(pb.ListCollectionsRequest()).collections
    assert [c.name for c in listed] == ["docs"] and listed[0].count == 4
    hits = stub.Search(pb.SearchRequest(collection="docs", texts=["the cat sat on the mat"], k=2))
    assert hits.results[0].hits[0].id == "a"
    assert hits.results[0].hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert struct_to_dict(hits.results[0].hits[0].metadata) == {"kind": "animal", "n": 1}
    filtered = stub.Search(
        pb.SearchRequest(
            collection="docs", texts=["cat"], k=4, filter=dict_to_struct({"kind": "money"})
        )
    )
    assert [h.id for h in filtered.results[0].hits] == ["c"]
    got = stub.Get(pb.GetRequest(collection="docs", ids=["b", "a"], include_embeddings=True))
    assert [d.id for d in got.documents] == ["b", "a"]
    vector = tensor_to_array(got.embeddings)[1:2]
    by_vector = stub.Search(
        pb.SearchRequest(collection="docs", vectors=array_to_tensor(vector), k=1, min_score=0.5)
    )
    assert by_vector.results[0].hits[0].id == "a"
    assert stub.Delete(pb.DeleteRequest(collection="docs", ids=["a", "zz"])).deleted == 1
    after = stub.Search(pb.SearchRequest(collection="docs", texts=["the cat sat"], k=4))
    assert "a" not in [h.id for h in after.results[0].hits]
    stub.DropCollection(pb.DropCollectionRequest(name="docs"))
    assert not stub.ListCollections(pb.ListCollectionsRequest()).collections


def test_errors_have_the_right_codes(stub) -> None:
    _fill(stub)
    code = grpc.StatusCode
    cases = [
        (stub.Encode, pb.EncodeRequest(), code.INVALID_ARGUMENT),
        (stub.Encode, pb.EncodeRequest(texts=[" \t"]), code.INVALID_ARGUMENT),
        (stub.Encode, pb.EncodeRequest(texts=["x"], pooling=7), code.INVALID_ARGUMENT),
        (stub.Encode, pb.EncodeRequest(texts=["word " * 200]), code.INVALID_ARGUMENT),
        (stub.Encode, pb.EncodeRequest(texts=["x"] * 257), code.RESOURCE_EXHAUSTED),
        (stub.Search, pb.SearchRequest(collection="nope", texts=["x"], k=1), code.NOT_FOUND),
        (stub.Search, pb.SearchRequest(collection="docs", texts=["x"], k=0), code.INVALID_ARGUMENT),
        (
            stub.Search,
            pb.SearchRequest(collection="docs", texts=["x"], k=1001),
            code.RESOURCE_EXHAUSTED,
        ),
        (
            stub.Search,
            pb.SearchRequest(
                collection="docs",
                vectors=array_to_tensor(np.ones((1, 5), np.float32)),
                k=1,
            ),
            code.INVALID_ARGUMENT,
        ),
        (
            stub.Search,
            pb.SearchRequest(
                collection="docs",
                vectors=array_to_tensor(np.full((1, 32), np.nan, np.float32)),
                k=1,
            ),
            code.INVALID_ARGUMENT,
        ),
        (stub.CreateCollection, pb.CreateCollectionRequest(name="docs"), code.ALREADY_EXISTS),
        (stub.CreateCollection, pb.CreateCollectionRequest(name="../x"), code.INVALID_ARGUMENT),
        (stub.Get, pb.GetRequest(collection="docs", ids=["missing"]), code.NOT_FOUND),
    ]
    for call, request, expected in cases:
        assert _code(call, request) == expected, request
    truncated = stub.Encode(pb.EncodeRequest(texts=["word " * 200], truncate=True))
    assert list(truncated.truncated) == [0]
    assert stub.Info(pb.InfoRequest()).model.hidden_size == 32  # still serving


def test_restart_keeps_data_and_refuses_another_model(tiny_model_dir: Path, tmp_path: Path):
    data = tmp_path / "data"
    first = serve_model(tiny_model_dir, data)
    from simsearch.v1 import simsearch_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{first.port}") as channel:
        _fill(simsearch_pb2_grpc.SimSearchStub(channel))
    first.stop(grace=1.0)
    second = serve_model(tiny_model_dir, data)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{second.port}") as channel:
            stub = simsearch_pb2_grpc.SimSearchStub(channel)
            got = stub.Get(pb.GetRequest(collection="docs", ids=["a", "b", "c", "d"]))
            assert [d.text for d in got.documents] == [t for _, t, _ in DOCS]
            hits = stub.Search(pb.SearchRequest(collection="docs", texts=["我喜欢北京"], k=1))
            assert hits.results[0].hits[0].id == "d"
    finally:
        second.stop(grace=1.0)
