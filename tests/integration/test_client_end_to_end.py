"""The real client against the real server: every RPC, errors as simsearch exceptions."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.client import Client
from simsearch.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    LimitExceededError,
    NotFoundError,
)
from support.in_process import serve_model


@pytest.fixture
def client(server):
    with Client(f"127.0.0.1:{server.port}", timeout=30) as client:
        yield client


def test_every_rpc_through_the_client(client: Client) -> None:
    assert client.info().model.hidden_size == 32
    assert client.encode(["the cat", "a dog"], normalize=True).embeddings.shape == (2, 32)
    assert client.encode(pairs=[("the cat", "a dog")]).embeddings.shape == (1, 32)
    tokens = client.encode_tokens(["我喜欢北京"])[0]
    assert tokens.embeddings.shape[0] == len(tokens.tokens) == tokens.offsets.shape[0]
    assert client.compare([("the cat", "the cat")]).scores[0] == pytest.approx(1.0, abs=1e-5)
    created = client.create_collection("c", pooling="mean")
    assert created.spec.name == "c" and created.count == 0
    docs = [{"id": "x", "text": "the cat sat", "metadata": {"n": 1}}, {"id": "y", "text": "a dog"}]
    assert client.upsert("c", docs).upserted == 2
    assert client.describe_collection("c").count == 2
    assert [c.spec.name for c in client.list_collections()] == ["c"]
    assert client.search("c", "the cat sat", k=1)[0][0].id == "x"
    vector = client.get_embeddings("c", ["y"])
    assert client.search("c", vector, k=1)[0][0].id == "y"
    assert client.get("c", ["x"])[0].metadata == {"n": 1}
    assert client.delete("c", ["x"]) == 1
    assert [h.id for h in client.search("c", "the cat sat", k=5)[0]] == ["y"]
    client.drop_collection("c")
    assert client.list_collections() == []


def test_errors_arrive_as_simsearch_exceptions(client: Client) -> None:
    client.create_collection("c")
    with pytest.raises(AlreadyExistsError):
        client.create_collection("c")
    with pytest.raises(NotFoundError):
        client.search("missing", "x", k=1)
    with pytest.raises(InvalidArgumentError):
        client.encode(["   "])
    with pytest.raises(LimitExceededError):
        client.search("c", "x", k=10_000)
    with pytest.raises(InvalidArgumentError):
        client.search("c", np.full(32, np.nan, dtype=np.float32), k=1)
    assert client.info().version  # still serving


def test_restart_under_another_model_is_refused(tiny_model_dir, tmp_path) -> None:
    import shutil

    import torch
    from transformers import BertModel

    from simsearch.errors import FailedPreconditionError

    other = tmp_path / "other-model"
    shutil.copytree(tiny_model_dir, other)
    model = BertModel.from_pretrained(other)
    with torch.no_grad():
        model.pooler.dense.bias.add_(0.5)  # one weight differs: another model
    model.save_pretrained(other)
    data = tmp_path / "data"
    first = serve_model(tiny_model_dir, data)
    with Client(f"127.0.0.1:{first.port}") as client:
        client.create_collection("c")
        client.upsert("c", [{"id": "x", "text": "the cat"}])
    first.stop(grace=1.0)
    second = serve_model(other, data)
    try:
        with Client(f"127.0.0.1:{second.port}") as client:
            with pytest.raises(FailedPreconditionError, match="fingerprint"):
                client.search("c", "the cat", k=1)
            assert client.describe_collection("c").compatible is False
    finally:
        second.stop(grace=1.0)


def test_bulk_upsert_streams_chunks_and_reports_partial_success(client: Client) -> None:
    client.create_collection("bulk", store_tokens=True)
    sent: list[int] = []
    docs = ({"id": f"d{i}", "text": f"document number {i}"} for i in range(300))
    result = client.upsert_stream("bulk", docs, batch_size=64, progress=sent.append)
    assert result.upserted == 300 and result.truncated == ()
    assert sum(sent) == 300 and len(sent) == 5
    assert client.describe_collection("bulk").count == 300
    assert client.get("bulk", ["d299"])[0].text == "document number 299"
    bad = [{"id": f"e{i}", "text": "x" if i != 150 else " "} for i in range(200)]
    with pytest.raises(InvalidArgumentError, match="128 documents were committed"):
        client.upsert_stream("bulk", bad, batch_size=64)
    assert client.describe_collection("bulk").count == 428
    with pytest.raises(NotFoundError):
        client.upsert_stream("nope", bad[:3])
    with pytest.raises(InvalidArgumentError, match="no UpsertRequest"):
        client.upsert_stream("bulk", [])
