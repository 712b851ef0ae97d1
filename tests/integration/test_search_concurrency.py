"""Search through a real server: concurrent single-text searches (gathered into one FAISS call
by the collection) answer what the same searches answer one at a time, and index parameters
the server cannot honour are INVALID_ARGUMENT with the rule."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from simsearch.v1 import simsearch_pb2 as pb

TEXTS = [f"document number {i} about {topic}" for i, topic in enumerate(["cats", "dogs"] * 40)]
QUERIES = ["cats", "dogs", "document about cats", "number 7", "about dogs 12", "cats 3"] * 4


def _answer(stub, text: str, k: int) -> list[tuple[str, float]]:
    reply = stub.Search(pb.SearchRequest(collection="docs", texts=[text], k=k), timeout=60)
    return [(hit.id, hit.score) for hit in reply.results[0].hits]


def test_concurrent_searches_answer_as_one_at_a_time(stub) -> None:
    stub.CreateCollection(pb.CreateCollectionRequest(name="docs"), timeout=60)
    documents = [pb.Document(id=f"d{i}", text=text) for i, text in enumerate(TEXTS)]
    documents += [pb.Document(id=f"copy{i}", text=TEXTS[0]) for i in range(12)]  # equal scores
    stub.Upsert(pb.UpsertRequest(collection="docs", documents=documents), timeout=60)
    ks = [1 + (i * 5) % 20 for i in range(len(QUERIES))]
    alone = [_answer(stub, text, k) for text, k in zip(QUERIES, ks, strict=True)]
    with ThreadPoolExecutor(len(QUERIES)) as pool:
        together = list(pool.map(lambda pair: _answer(stub, *pair), zip(QUERIES, ks, strict=True)))
    assert together == alone


@pytest.mark.parametrize("value", ["0", "1.5", "5000"])
def test_a_bad_ef_construction_is_invalid_argument_with_the_rule(stub, value: str) -> None:
    request = pb.CreateCollectionRequest(name="hnsw", index=f"HNSW32 | efConstruction={value}")
    with pytest.raises(grpc.RpcError) as info:
        stub.CreateCollection(request, timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert "efConstruction must be an integer in 1..2048" in info.value.details()


def test_ef_construction_is_kept_in_the_collection_spec(stub) -> None:
    index = "HNSW32 | efConstruction=64"
    stub.CreateCollection(pb.CreateCollectionRequest(name="hnsw", index=index), timeout=60)
    described = stub.DescribeCollection(pb.DescribeCollectionRequest(name="hnsw"), timeout=60)
    assert described.collection.index == index
