"""Collection calibrations through a real server (tiny BERT, d=32) and the real client: the
auto fit, Calibrate, Describe, search / Encode / Compare against a numpy reference, restarts,
and the errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from simsearch.client import Client
from simsearch.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from simsearch.server import RunningServer
from simsearch.types import CalibrationKind, FloatArray
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc
from support.in_process import serve_model

WORDS = ["cat", "dog", "market", "river", "stocks", "music", "rain", "city", "bread", "train"]
QUERIES = ["a cat by the river", "stocks fell in the city", "music and rain"]
K = 5


def texts(n: int) -> list[str]:
    return [f"{WORDS[i % 10]} and {WORDS[(i // 10) % 10]} number {i}" for i in range(n)]


@pytest.fixture
def client(server: RunningServer) -> Iterator[Client]:
    with Client(f"127.0.0.1:{server.port}", timeout=60) as client:
        yield client


def stored(client: Client, name: str, n: int) -> FloatArray:
    """The stored raw vectors of documents 0..n-1 (Get with embeddings, in pages)."""
    ids = [str(i) for i in range(n)]
    return np.concatenate(
        [client.get_embeddings(name, ids[i : i + 100]) for i in range(0, n, 100)]
    ).astype(np.float64)


def normalised(rows: FloatArray) -> FloatArray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def assert_search_matches(
    client: Client, name: str, queries: FloatArray, documents: FloatArray
) -> None:
    """Search hits equal the numpy top-k of the calibrated cosines, scores included."""
    scores = queries @ documents.T
    for row, want in zip(client.search(name, QUERIES, k=K), scores, strict=True):
        top = np.argsort(-want, kind="stable")[:K]
        np.testing.assert_allclose([hit.score for hit in row], want[top], atol=1e-4)
        assert [hit.id for hit in row][:2] == [str(i) for i in top[:2]]


def test_center_is_fitted_by_the_write_reaching_the_threshold(
    client: Client, server: RunningServer, tiny_model_dir: Path, tmp_path: Path
) -> None:
    created = client.create_collection("c", pooling="cls", calibration="center")
    state = created.calibration
    assert (state.calibration.kind, state.fit_threshold, state.fitted) == (
        CalibrationKind.CENTER,
        1000,
        False,
    )
    docs = [{"id": str(i), "text": text} for i, text in enumerate(texts(1000))]
    client.upsert("c", docs[:999], batch_size=111)
    assert not client.describe_collection("c").calibration.fitted
    client.upsert("c", docs[999:])
    state = client.describe_collection("c").calibration
    assert state.fitted and state.fitted_on == 1000 and state.fitted_at > 0
    raw = stored(client, "c", 1000)
    mean = raw.mean(axis=0)
    documents = normalised(raw - mean)
    queries = normalised(client.encode(QUERIES, pooling="cls", normalize=True).embeddings - mean)
    assert_search_matches(client, "c", queries, documents)
    # Encode and Compare with the collection: its pooling (cls), its calibration.
    encoded = client.encode(QUERIES, collection="c").embeddings
    np.testing.assert_allclose(encoded, queries, atol=1e-5)
    pairs = [(QUERIES[0], docs[3]["text"]), (QUERIES[1], QUERIES[2])]
    cosine = client.compare(pairs, collection="c").scores
    a = normalised(
        client.encode([p[0] for p in pairs], pooling="cls", normalize=True).embeddings - mean
    )
    b = normalised(
        client.encode([p[1] for p in pairs], pooling="cls", normalize=True).embeddings - mean
    )
    np.testing.assert_allclose(cosine, np.einsum("nd,nd->n", a, b), atol=1e-5)
    # A restart keeps the fit and the results.
    server.stop(grace=1.0)
    restarted = serve_model(tiny_model_dir, tmp_path / "data")
    try:
        with Client(f"127.0.0.1:{restarted.port}", timeout=60) as again:
            assert again.describe_collection("c").calibration == state
            assert_search_matches(again, "c", queries, documents)
    finally:
        restarted.stop(grace=1.0)


def test_calibrate_whitens_keeping_fewer_dimensions(client: Client) -> None:
    client.create_collection("w", calibration="whiten", calibration_dimensions=8)
    docs = [{"id": str(i), "text": text} for i, text in enumerate(texts(120))]
    client.upsert("w", docs)
    assert not client.describe_collection("w").calibration.fitted  # threshold 1000
    info = client.calibrate("w")
    assert info.calibration.fitted and info.calibration.fitted_on == 120
    raw = stored(client, "w", 120)
    mean = raw.mean(axis=0)
    u, s, _ = np.linalg.svd(np.cov((raw - mean).T, bias=True))
    w = (u / np.sqrt(s))[:, :8]
    documents = normalised((raw - mean) @ w)
    queries = normalised((client.encode(QUERIES, normalize=True).embeddings - mean) @ w)
    assert_search_matches(client, "w", queries, documents)
    encoded = client.encode(QUERIES, collection="w").embeddings
    assert encoded.shape == (3, 8)
    np.testing.assert_allclose(encoded @ encoded.T, queries @ queries.T, atol=1e-5)
    # Get keeps returning the raw vectors.
    assert client.get_embeddings("w", ["0"]).shape == (1, 32)


def test_calibration_errors(client: Client, server: RunningServer) -> None:
    with pytest.raises(InvalidArgumentError, match="whiten only"):
        client.create_collection("x", calibration="center", calibration_dimensions=4)
    with pytest.raises(InvalidArgumentError, match=r"1\.\.32"):
        client.create_collection("x", calibration="whiten", calibration_dimensions=33)
    with pytest.raises(InvalidArgumentError, match="unknown calibration"):
        client.create_collection("x", calibration="pca")
    with pytest.raises(NotFoundError):
        client.calibrate("missing")
    client.create_collection("plain")
    client.upsert("plain", [{"id": "1", "text": "a cat"}, {"id": "2", "text": "a dog"}])
    with pytest.raises(FailedPreconditionError, match="nothing to fit"):
        client.calibrate("plain")
    client.create_collection("one", pooling="mean", calibration="center")
    client.upsert("one", [{"id": "1", "text": "a cat"}])
    with pytest.raises(FailedPreconditionError, match="at least 2"):
        client.calibrate("one")
    with pytest.raises(InvalidArgumentError, match="pooling mean, not cls"):
        client.encode(["a cat"], pooling="cls", collection="one")
    with pytest.raises(NotFoundError):
        client.compare([("a", "b")], collection="missing")
    assert [c.spec.name for c in client.list_collections()] == ["one", "plain"]
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = simsearch_pb2_grpc.SimSearchStub(channel)
        request = pb.CreateCollectionRequest(name="x", calibration=pb.Calibration(kind=7))
        with pytest.raises(grpc.RpcError) as info:
            stub.CreateCollection(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "unknown calibration kind 7" in info.value.details()
