"""MaxSim features through the real client and server over the tiny BERT: Compare with MaxSim
and alignments, Search with a rerank, Rerank by ids, and their error statuses."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from simsearch.client import Client
from simsearch.errors import InvalidArgumentError, LimitExceededError, NotFoundError
from simsearch.v1 import simsearch_pb2 as pb

DOCS = [
    {"id": "zh", "text": "我喜欢北京的秋天", "metadata": {"lang": "zh"}},
    {"id": "cat", "text": "the cat sat on the mat", "metadata": {"lang": "en"}},
    {"id": "dog", "text": "a dog ran in the park!", "metadata": {"lang": "en"}},
    {"id": "mix", "text": "北京 has a cat, and a dog", "metadata": {"lang": "mixed"}},
]


@pytest.fixture
def client(server):
    with Client(f"127.0.0.1:{server.port}", timeout=30) as client:
        client.create_collection("plain")
        client.create_collection("tokens", store_tokens=True)
        client.upsert("plain", DOCS)
        client.upsert("tokens", DOCS)
        yield client


def test_alignment_offsets_point_at_the_matched_characters(client: Client) -> None:
    a, b = "我喜欢北京", "北京 has a cat, 我"
    result = client.compare([(a, b)], alignments=True, similarity_matrix=True, tokens="words")
    assert result.maxsim is not None and result.alignments is not None
    alignment = result.alignments[0]
    assert alignment.similarity is not None
    assert alignment.similarity.shape == (len(alignment.a.tokens), len(alignment.b.tokens))
    for i, token in enumerate(alignment.a.tokens):
        start, end = alignment.a.offsets[i]
        if not alignment.a.counted[i]:
            assert alignment.a_to_b[i] == -1
            continue
        assert a[start:end] == token  # the tiny vocabulary splits Chinese into characters
        j = alignment.a_to_b[i]
        b_start, b_end = alignment.b.offsets[j]
        assert b[b_start:b_end] == alignment.b.tokens[j].removeprefix("##")
        assert alignment.a_to_b_similarity[i] == pytest.approx(alignment.similarity[i, j], 1e-5)
    # Identical characters have identical contextual vectors only by chance; but "北" of a
    # matched against b must land on a counted token of b.
    assert alignment.b.counted[alignment.a_to_b[alignment.a.counted]].all()
    assert result.maxsim[0] == pytest.approx(
        (
            alignment.a_to_b_similarity[alignment.a.counted].mean()
            + alignment.b_to_a_similarity[alignment.b.counted].mean()
        )
        / 2,
        abs=1e-5,
    )


def test_compare_batch_returns_every_score(client: Client) -> None:
    pairs = [("the cat", "the cat"), ("a dog", "北京"), ("cat", "a cat sat")]
    result = client.compare(pairs, alpha=0.4)
    assert result.maxsim is not None and result.hybrid is not None
    assert result.alignments is None
    assert result.maxsim[0] == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(result.hybrid, 0.4 * result.scores + 0.6 * result.maxsim, 1e-5)
    plain = client.compare(pairs)
    assert plain.maxsim is None
    np.testing.assert_allclose(plain.scores, result.scores, atol=1e-6)


def test_rerank_with_stored_tokens_equals_fresh_encoding(client: Client) -> None:
    queries = ["a cat on a mat", "北京的秋天"]
    fresh = client.search("plain", queries, k=4, rerank=True, depth=4)
    stored = client.search("tokens", queries, k=4, rerank=True, depth=4)
    for a, b in zip(fresh, stored, strict=True):
        assert [hit.id for hit in a] == [hit.id for hit in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=2e-3)
        for hit in b:
            assert hit.maxsim_score == hit.score
            assert hit.sentence_score is not None
    by_ids = client.rerank("tokens", [(q, ["zh", "cat", "dog", "mix"]) for q in queries])
    for a, b in zip(stored, by_ids, strict=True):
        assert [hit.id for hit in a] == [hit.id for hit in b]


def test_plain_search_reports_the_sentence_score(client: Client) -> None:
    hit = client.search("plain", "the cat", k=1)[0][0]
    assert hit.maxsim_score is None
    assert hit.sentence_score == pytest.approx(hit.score)


def test_bad_requests_get_their_status(client: Client, server) -> None:
    with pytest.raises(InvalidArgumentError, match="empty"):
        client.compare([], maxsim=True)
    with pytest.raises(InvalidArgumentError, match="below k"):
        client.search("tokens", "cat", k=3, depth=2)
    with pytest.raises(InvalidArgumentError, match="maximum"):
        client.search("tokens", "cat", k=3, depth=100_000)
    with pytest.raises(InvalidArgumentError, match="texts"):
        client.search("tokens", np.ones(32, np.float32), k=3, rerank=True)
    with pytest.raises(InvalidArgumentError):
        client.compare([("a", "b")], maxsim=True, direction="sideways")
    with pytest.raises(NotFoundError, match="nope"):
        client.rerank("tokens", [("cat", ["cat", "nope"])])
    with pytest.raises(LimitExceededError):
        client.rerank("tokens", [("cat", ["cat"] * 1001)])
    # Unknown enum values, sent raw, are INVALID_ARGUMENT too.
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        compare = channel.unary_unary(
            "/simsearch.v1.SimSearch/Compare",
            request_serializer=pb.CompareRequest.SerializeToString,
            response_deserializer=pb.CompareResponse.FromString,
        )
        for maxsim in (pb.MaxSim(direction=9), pb.MaxSim(tokens=7)):  # type: ignore[arg-type]
            request = pb.CompareRequest(pairs=[pb.TextPair(a="a", b="b")], maxsim=maxsim)
            with pytest.raises(grpc.RpcError) as raised:
                compare(request, timeout=10)
            assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert client.info().model.hidden_size == 32  # still serving


def test_padding_never_reaches_a_score(client: Client) -> None:
    """A short pair scores the same alone and batched with long texts (which pad it)."""
    short = ("a cat", "the dog")
    long = " ".join(["the cat sat on the mat with a dog"] * 6)
    alone = client.compare([short], maxsim=True, tokens="no_special")
    batched = client.compare([(long, long), short, (long, "a")], maxsim=True, tokens="no_special")
    assert alone.maxsim is not None and batched.maxsim is not None
    # bfloat16 kernels round differently for other batch shapes; leaked padding would move
    # the score by far more than either tolerance.
    tolerance = 1e-5 if client.info().model.precision == "float32" else 3e-3
    assert batched.maxsim[1] == pytest.approx(alone.maxsim[0], abs=tolerance)
    assert batched.scores[1] == pytest.approx(alone.scores[0], abs=tolerance)
