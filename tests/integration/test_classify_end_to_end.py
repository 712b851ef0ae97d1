"""Classify, the head in Info and the cross-encoder rerank, through a real server that loaded a
tiny ``BertForSequenceClassification`` as ``simsearch serve`` does (default engine and
precision), and the errors of a server without a head; the client and the CLI on top."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from simsearch.cli import main
from simsearch.client import Client
from simsearch.errors import FailedPreconditionError, InvalidArgumentError
from simsearch.server import RunningServer
from simsearch.types import ClassifierHead
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc
from support.in_process import serve_model
from support.tiny_bert import NLI_LABELS, build_tiny_classifier

PAIRS = [
    ("a man plays the guitar", "a man plays music"),
    ("the cat sits on the mat", "the dog runs in the street"),
    ("people walk in the park", "nobody is in the park"),
]
DOCS = [
    {"id": f"d{i}", "text": text}
    for i, text in enumerate(
        [
            "a man plays the guitar in the street",
            "the cat sits on the mat",
            "children play with a ball in the park",
            "a woman eats an apple",
            "the dog runs on the beach",
            "people like music and the piano",
            "it is raining in the city today",
            "the sun is in the sky",
        ]
    )
]


@pytest.fixture(scope="module")
def nli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny-nli"))


@pytest.fixture
def nli_server(nli_dir: Path, tmp_path: Path) -> Iterator[RunningServer]:
    running = serve_model(nli_dir, tmp_path / "nli-data")
    yield running
    running.stop(grace=1.0)


@pytest.fixture
def nli(nli_server: RunningServer) -> Iterator[Client]:
    with Client(f"127.0.0.1:{nli_server.port}", timeout=60) as client:
        yield client


@pytest.fixture
def plain(server: RunningServer) -> Iterator[Client]:
    """A client of the ordinary tiny BERT (no head)."""
    with Client(f"127.0.0.1:{server.port}", timeout=60) as client:
        yield client


def test_info_describes_the_head(nli: Client, plain: Client) -> None:
    assert nli.info().model.head == ClassifierHead(
        NLI_LABELS, "single_label_classification", "entailment"
    )
    assert plain.info().model.head is None


def test_classify_texts_and_pairs(nli: Client) -> None:
    for result, count in ((nli.classify(pairs=PAIRS), 3), (nli.classify("a cat"), 1)):
        assert result.logits.shape == result.probabilities.shape == (count, 3)
        np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-5)
        softmax = np.exp(result.logits) / np.exp(result.logits).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(result.probabilities, softmax, atol=1e-5)
        assert result.labels == tuple(NLI_LABELS[i] for i in result.label_ids)
        assert list(result.label_ids) == list(result.probabilities.argmax(axis=1))
    batch = nli.classify(pairs=PAIRS)
    for i, pair in enumerate(PAIRS):
        alone = nli.classify(pairs=[pair])
        np.testing.assert_allclose(alone.logits[0], batch.logits[i], atol=1e-4)
    first_texts = nli.classify([a for a, _ in PAIRS])
    assert np.abs(first_texts.logits - batch.logits).max() > 1e-3  # segment B counts


def test_classify_truncation(nli: Client) -> None:
    long = " ".join(["cat"] * 80)
    with pytest.raises(InvalidArgumentError, match="input 1 has"):
        nli.classify(pairs=[("a cat", "a dog"), ("a cat", long)])
    assert nli.classify(pairs=[("a cat", "a dog"), ("a cat", long)], truncate=True).truncated == (
        1,
    )


def test_classify_errors(nli: Client, plain: Client, nli_server: RunningServer) -> None:
    with pytest.raises(FailedPreconditionError, match="no sequence-classification head") as raised:
        plain.classify(pairs=PAIRS)
    assert "BertForSequenceClassification" in str(raised.value)
    with pytest.raises(InvalidArgumentError, match="empty"):
        nli.classify([])
    with pytest.raises(InvalidArgumentError):
        nli.classify(["   "])
    with pytest.raises(InvalidArgumentError, match="not both"):
        nli.classify(["a"], pairs=[("a", "b")])
    with grpc.insecure_channel(f"127.0.0.1:{nli_server.port}") as channel:
        stub = simsearch_pb2_grpc.SimSearchStub(channel)
        request = pb.ClassifyRequest(texts=["a"], pairs=[pb.TextPair(a="a", b="b")])
        with pytest.raises(grpc.RpcError) as wire_error:
            stub.Classify(request, timeout=30)
        assert wire_error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "either texts or pairs" in wire_error.value.details()


def test_search_reranks_by_the_head_as_a_cross_encoder(nli: Client) -> None:
    nli.create_collection("docs")
    nli.upsert("docs", DOCS)
    query = "a man plays music"
    plain = {hit.id: hit.score for hit in nli.search("docs", query, k=len(DOCS))[0]}
    (hits,) = nli.search("docs", query, k=4, cross_encoder=True, depth=len(DOCS))
    assert len(hits) == 4
    entailment = NLI_LABELS.index("entailment")
    every = nli.classify(pairs=[(query, doc["text"]) for doc in DOCS])
    expected = {doc["id"]: float(every.probabilities[i, entailment]) for i, doc in enumerate(DOCS)}
    best = sorted(expected, key=lambda doc_id: (-expected[doc_id], doc_id))[:4]
    assert [hit.id for hit in hits] == best
    for hit in hits:
        assert hit.relevance_score is not None
        assert hit.score == pytest.approx(hit.relevance_score)
        assert hit.relevance_score == pytest.approx(expected[hit.id], abs=1e-4)
        assert hit.sentence_score == pytest.approx(plain[hit.id], abs=1e-5)
        assert hit.maxsim_score is None
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def test_cross_encoder_errors(nli: Client, plain: Client) -> None:
    for client in (nli, plain):
        client.create_collection("docs")
        client.upsert("docs", DOCS)
    with pytest.raises(FailedPreconditionError, match="no sequence-classification head"):
        plain.search("docs", "a cat", k=2, cross_encoder=True)
    vector = nli.get_embeddings("docs", ["d0"])
    with pytest.raises(InvalidArgumentError, match="needs query texts"):
        nli.search("docs", vector, k=2, cross_encoder=True)
    with pytest.raises(InvalidArgumentError, match="depth"):
        nli.search("docs", "a cat", k=5, cross_encoder=True, depth=2)


@pytest.fixture
def run(nli_server: RunningServer, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple]:
    address = f"127.0.0.1:{nli_server.port}"

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--address", address, *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_cli_classify(run: Callable[..., tuple], nli: Client) -> None:
    code, out, _ = run("classify", "--pair", *PAIRS[0], "--pair", *PAIRS[1])
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == [
        "a", "b", "label", "probability", *(f"p({label})" for label in NLI_LABELS)
    ]  # fmt: skip
    expected = nli.classify(pairs=PAIRS[:2])
    for row, label, probabilities in zip(
        rows, expected.labels, expected.probabilities, strict=True
    ):
        assert f" {label} " in row
        assert row.split()[-3:] == [f"{p:.4f}" for p in probabilities]
    code, out, _ = run("classify", "a cat", "--json")
    assert code == 0
    document = json.loads(out)
    assert document["labels"] == list(NLI_LABELS)
    (item,) = document["results"]
    assert item["text"] == "a cat" and item["label"] in NLI_LABELS
    assert set(item["probabilities"]) == set(item["logits"]) == set(NLI_LABELS)
    assert item["probability"] == pytest.approx(max(item["probabilities"].values()))
    code, _, err = run("classify", "a", "--pair", "b", "c")
    assert code == 2 and "not both" in err


def test_cli_search_cross_encoder(run: Callable[..., tuple], nli: Client) -> None:
    nli.create_collection("docs")
    nli.upsert("docs", DOCS)
    query = "a man plays music"
    code, out, err = run("search", "docs", query, "-k", "3", "--cross-encoder", "--json")
    assert code == 0, err
    (result,) = json.loads(out)
    expected = nli.search("docs", query, k=3, cross_encoder=True)[0]
    assert [hit["id"] for hit in result["hits"]] == [hit.id for hit in expected]
    assert [hit["score"] for hit in result["hits"]] == pytest.approx(
        [hit.relevance_score for hit in expected], abs=1e-6
    )
