"""MinePairs and search by stored ids through a real server over the tiny BERT: the stream
against brute force over the stored vectors (Get with include_embeddings), pairing, the
errors and their status codes, a stream's slot freed when its client goes, "more like this",
and the ``simsearch mine`` command writing JSON Lines and CSV."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

import simsearch
from simsearch.client import Client
from simsearch.encoder import BertEncoder
from simsearch.errors import NotFoundError
from simsearch.server import RunningServer
from simsearch.types import Document, Limits, ScoredPair
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc
from simsearch.wire import dict_to_struct
from support.in_process import serve_in_process

SRC = Path(simsearch.__file__).resolve().parents[1]
LIMITS = Limits(max_batch=16, max_k=50, max_concurrent_rpcs=2)
SUBJECTS = ["the cat", "a dog", "my neighbour", "the old man", "a child", "the teacher"]
ACTIONS = ["sat on the mat", "ran in the park", "ate an apple", "read a book", "slept well"]
PLACES = ["today", "at night", "in paris", "after lunch"]


def _documents(prefix: str, count: int, seed: int) -> list[Document]:
    rng = np.random.default_rng(seed)
    return [
        Document(
            f"{prefix}{i:03d}",
            f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)} {rng.choice(PLACES)} {i}",
            {"half": i % 2},
        )
        for i in range(count)
    ]


DOCS = _documents("d", 45, seed=1)


@pytest.fixture
def server(tiny_encoder: BertEncoder, tmp_path: Path) -> Iterator[RunningServer]:
    running = serve_in_process(tiny_encoder, tmp_path / "data", limits=LIMITS)
    yield running
    running.stop(grace=1.0)


@pytest.fixture
def client(server: RunningServer) -> Iterator[Client]:
    with Client(f"127.0.0.1:{server.port}", timeout=120) as client:
        client.create_collection("docs")
        client.upsert("docs", DOCS, batch_size=16)
        yield client


def _stored(client: Client, collection: str, ids: list[str]) -> np.ndarray:
    return np.concatenate(
        [client.get_embeddings(collection, ids[i : i + 16]) for i in range(0, len(ids), 16)]
    ).astype(np.float64)


def _top(scores: np.ndarray, ids: list[str], top_m: int, skip: str | None) -> list[str]:
    order = sorted(
        (j for j in range(len(ids)) if ids[j] != skip), key=lambda j: (-scores[j], ids[j])
    )
    return [ids[j] for j in order[:top_m]]


def _reference(client: Client, top_m: int, min_score: float) -> list[tuple[str, str, float]]:
    """Brute force over the stored vectors: each pair once, under the first of its two
    documents (id order) that has the other among its top_m."""
    ids = sorted(doc.id for doc in DOCS)
    vectors = _stored(client, "docs", ids)
    scores = vectors @ vectors.T
    tops = {a: _top(scores[i], ids, top_m, a) for i, a in enumerate(ids)}
    pairs = []
    for i, a in enumerate(ids):
        for b in tops[a]:
            score = float(scores[i, ids.index(b)])
            if not (b < a and a in tops[b]) and score >= min_score:
                pairs.append((a, b, score))
    return sorted(pairs, key=lambda pair: (pair[0], -pair[2], pair[1]))


def _triples(pairs: list[ScoredPair]) -> list[tuple[str, str, float]]:
    return [(pair.a, pair.b, pair.score) for pair in pairs]


def _assert_same(found: list[tuple[str, str, float]], expected: list[Any]) -> None:
    assert [pair[:2] for pair in found] == [pair[:2] for pair in expected]
    assert [pair[2] for pair in found] == pytest.approx([pair[2] for pair in expected], abs=1e-5)


def test_mining_stream_equals_brute_force(client: Client) -> None:
    mined = client.mine_pairs("docs", top_m=3, min_score=0.2, chunk_size=5)
    chunks = list(mined.chunks())
    found = _triples([pair for pairs, _, _ in chunks for pair in pairs])
    _assert_same(found, _reference(client, 3, 0.2))
    assert all(len(pairs) <= 5 for pairs, _, _ in chunks)
    progress = [(done, total) for _, done, total in chunks]
    assert {total for _, total in progress} == {len(DOCS)}
    assert {done for done, _ in progress} == {16, 32, 45}  # at least one message a page
    assert (mined.done, mined.total) == (len(DOCS), len(DOCS))


def test_pairing_with_maxsim_and_a_filter(client: Client) -> None:
    answers = _documents("a", 20, seed=2)
    client.create_collection("answers")
    client.upsert("answers", answers, batch_size=16)
    pairs = list(client.mine_pairs("docs", "answers", top_m=2, filter={"half": 1}, alpha=0.5))
    sources = sorted(doc.id for doc in DOCS if doc.metadata["half"] == 1)
    assert [pair.a for pair in pairs] == [a for a in sources for _ in range(2)]
    chosen = sorted(doc.id for doc in answers if doc.metadata["half"] == 1)
    scores = _stored(client, "docs", sources) @ _stored(client, "answers", chosen).T
    for i, a in enumerate(sources):
        listed = [pair for pair in pairs if pair.a == a]
        assert {pair.b for pair in listed} == set(_top(scores[i], chosen, 2, None))
        for pair in listed:
            assert pair.maxsim_score is not None
            cosine = scores[i, chosen.index(pair.b)]
            assert pair.sentence_score == pytest.approx(cosine, abs=1e-5)
            assert pair.score == pytest.approx(0.5 * cosine + 0.5 * pair.maxsim_score, abs=1e-5)
        assert [p.score for p in listed] == sorted((p.score for p in listed), reverse=True)


def _code(stub: simsearch_pb2_grpc.SimSearchStub, **fields: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        list(stub.MinePairs(pb.MinePairsRequest(**fields), timeout=30))
    assert "Traceback" not in (info.value.details() or "")
    return info.value.code()


def test_errors_and_their_status_codes(client: Client, server: RunningServer) -> None:
    client.create_collection("means", pooling="mean")
    invalid, exhausted = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED
    cases: list[tuple[dict[str, Any], grpc.StatusCode]] = [
        ({"collection": "nope"}, grpc.StatusCode.NOT_FOUND),
        ({"collection": "docs", "target": "nope"}, grpc.StatusCode.NOT_FOUND),
        ({"collection": "docs", "target": "means"}, grpc.StatusCode.FAILED_PRECONDITION),
        ({"collection": "docs", "top_m": -1}, invalid),
        ({"collection": "docs", "top_m": 51}, exhausted),
        ({"collection": "docs", "min_score": 1.5}, invalid),
        ({"collection": "docs", "chunk_size": -3}, invalid),
        ({"collection": "docs", "chunk_size": 17}, exhausted),
        ({"collection": "docs", "filter": dict_to_struct({"half": [1]})}, invalid),
        ({"collection": "docs", "maxsim": pb.MaxSim(alpha=1.5)}, invalid),
        ({"collection": "a/b"}, invalid),
    ]
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = simsearch_pb2_grpc.SimSearchStub(channel)
        assert [_code(stub, **fields) for fields, _ in cases] == [code for _, code in cases]


def test_a_stream_left_early_frees_its_slot(client: Client) -> None:
    """One stream slot (max_concurrent_rpcs 2): a run closed after its first message must
    give it back, or the next run would be RESOURCE_EXHAUSTED."""
    for _ in range(3):
        with client.mine_pairs("docs", top_m=2, chunk_size=1) as mined:
            first = next(iter(mined))
            assert first.a == min(doc.id for doc in DOCS)
    assert len(list(client.mine_pairs("docs", top_m=1))) > 0


def test_search_by_ids_excludes_them(client: Client) -> None:
    ids = ["d004", "d010"]
    rows = client.search("docs", ids=ids, k=5)
    by_vector = client.search("docs", client.get_embeddings("docs", ids), k=7)
    for row, reference in zip(rows, by_vector, strict=True):
        assert [hit.id for hit in row] == [h.id for h in reference if h.id not in ids][:5]
    reranked = client.search("docs", ids="d004", k=3, rerank=True)[0]
    assert len(reranked) == 3 and "d004" not in {hit.id for hit in reranked}
    assert all(hit.maxsim_score is not None for hit in reranked)
    with pytest.raises(NotFoundError, match="'zz'"):
        client.search("docs", ids=["d004", "zz"])


def _cli(server: RunningServer, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "SIMSEARCH_ADDRESS": f"127.0.0.1:{server.port}"}
    return subprocess.run(
        [sys.executable, "-m", "simsearch.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_cli_mine_writes_jsonl_and_csv(
    client: Client, server: RunningServer, tmp_path: Path
) -> None:
    expected = _triples(list(client.mine_pairs("docs", top_m=2, min_score=0.1)))
    done = _cli(server, "mine", "docs", "--top-m", "2", "--min-score", "0.1")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    _assert_same([(r["a"], r["b"], r["score"]) for r in lines], expected)
    assert all(set(r) == {"a", "b", "score", "sentence_score"} for r in lines)

    out = tmp_path / "pairs.csv"
    done = _cli(
        server,
        "mine",
        "docs",
        "--top-m",
        "2",
        "--min-score",
        "0.1",
        "--format",
        "csv",
        "-o",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {len(expected):,} pairs (45 documents gone through)")
    text = out.read_text("utf-8")
    assert text.splitlines()[0] == "a,b,score,sentence_score,maxsim_score"
    assert text.splitlines()[1].startswith('"d')  # ids quoted
    rows = list(csv.DictReader(io.StringIO(text)))
    _assert_same([(r["a"], r["b"], float(r["score"])) for r in rows], expected)
    assert {r["maxsim_score"] for r in rows} == {""}


def test_cli_mine_refusal_and_search_by_id(client: Client, server: RunningServer) -> None:
    refused = _cli(server, "mine", "docs", "--min-score", "2")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: INVALID_ARGUMENT: min_score must lie in [-1, 1]")
    assert "no pair was written" in refused.stderr
    found = _cli(server, "--json", "search", "docs", "--id", "d004", "-k", "2")
    assert found.returncode == 0, found.stderr
    (result,) = json.loads(found.stdout)
    assert result["id"] == "d004" and len(result["hits"]) == 2
    assert "d004" not in {hit["id"] for hit in result["hits"]}
    assert _cli(server, "search", "docs", "q", "--id", "d004").returncode == 2
