"""The engine's MaxSim features with the fake encoder and a real FAISS catalog: Compare with
MaxSim, hybrid scores and alignments, Search with a rerank, Rerank by ids, and their checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from simsearch.engine import Engine
from simsearch.engine.maxsim import maxsim_many, token_vectors
from simsearch.errors import (
    InvalidArgumentError,
    LimitExceededError,
    NotFoundError,
    SimsearchError,
)
from simsearch.index import FaissCatalog
from simsearch.types import (
    Document,
    Limits,
    MaxSimDirection,
    MaxSimOptions,
    RerankOptions,
    SearchParams,
    TokenSelection,
)
from support.catalogs import stored
from unit.fake_encoder import FakeEncoder

LIMITS = Limits(max_batch=8, max_k=20, max_text_chars=200, max_rerank_depth=30)
WORDS = "red green blue apple pear plum car bus train dog cat fish".split()  # noqa: SIM905


def corpus() -> list[Document]:
    rng = np.random.default_rng(0)
    return [
        Document(f"d{i}", " ".join(rng.choice(WORDS, size=int(rng.integers(2, 7)))), {"n": i})
        for i in range(24)
    ]


DOCS = corpus()
QUERIES = ["red apple pie", "a fast train , bus", "dog and cat"]


@pytest.fixture
def encoder() -> FakeEncoder:
    return FakeEncoder("fingerprint-a", max_length=12)


@pytest.fixture
def engine(encoder: FakeEncoder, catalog: FaissCatalog) -> Engine:
    engine = Engine(encoder, catalog, LIMITS)
    engine.create_collection("plain")
    engine.create_collection("tokens", store_tokens=True)
    for name in ("plain", "tokens"):
        for start in range(0, len(DOCS), 8):
            engine.upsert(name, DOCS[start : start + 8])
    encoder.calls.clear()
    return engine


def test_store_tokens_is_part_of_the_collection(engine: Engine) -> None:
    assert engine.describe_collection("tokens").spec.store_tokens
    assert not engine.describe_collection("plain").spec.store_tokens


# -- Compare ------------------------------------------------------------------------------


def test_compare_with_maxsim_hybrid_and_alignments(engine: Engine, encoder: FakeEncoder) -> None:
    pairs = [("red apple", "red apple"), ("red apple pie", "green pear"), ("dog", "dog cat")]
    options = MaxSimOptions(alpha=0.3)
    result = engine.compare(pairs, maxsim=options, alignments=True)
    assert [call.method for call in encoder.calls] == ["encode_with_tokens"]
    assert result.maxsim is not None and result.hybrid is not None
    assert result.alignments is not None and len(result.alignments) == 3
    assert result.maxsim[0] == pytest.approx(1.0, abs=1e-6)
    tokens = encoder.encode_tokens([text for pair in pairs for text in pair], truncate=False)
    for i in range(len(pairs)):
        a, b = token_vectors(tokens[2 * i]), token_vectors(tokens[2 * i + 1])
        expected = maxsim_many(a, [b], options)[0]
        assert result.maxsim[i] == pytest.approx(expected, abs=1e-6)
    np.testing.assert_allclose(result.hybrid, 0.3 * result.cosine + 0.7 * result.maxsim, 1e-6)
    alignment = result.alignments[2]
    assert alignment.a.tokens == ("[CLS]", "dog", "[SEP]")
    assert alignment.b.tokens[alignment.a_to_b[1]] == "dog"
    assert alignment.similarity is None


def test_compare_directions_differ_and_average(engine: Engine) -> None:
    pairs = [("red apple pie with plum", "apple")]

    def score(direction: MaxSimDirection) -> float:
        maxsim = engine.compare(pairs, maxsim=MaxSimOptions(direction=direction)).maxsim
        assert maxsim is not None
        return float(maxsim[0])

    q_to_d = score(MaxSimDirection.QUERY_TO_DOCUMENT)
    d_to_q = score(MaxSimDirection.DOCUMENT_TO_QUERY)
    assert d_to_q > q_to_d  # every document token has its twin in the longer query
    assert score(MaxSimDirection.SYMMETRIC) == pytest.approx((q_to_d + d_to_q) / 2, abs=1e-6)


def test_similarity_matrix_implies_alignments_and_maxsim(engine: Engine) -> None:
    result = engine.compare([("red apple", "green apple pie")], similarity_matrix=True)
    assert result.maxsim is not None and result.hybrid is None
    assert result.alignments is not None
    matrix = result.alignments[0].similarity
    assert matrix is not None and matrix.shape == (4, 5)


# -- Search with a rerank -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["plain", "tokens"])
def test_rerank_orders_the_index_candidates_by_maxsim(
    engine: Engine, encoder: FakeEncoder, name: str
) -> None:
    options = MaxSimOptions(tokens=TokenSelection.NO_SPECIAL)
    plain = engine.search(name, QUERIES, k=10).hits
    reranked = engine.search(name, QUERIES, k=4, rerank=RerankOptions(10, options)).hits
    tokens = encoder.encode_tokens(QUERIES, truncate=False)
    for query, before, after in zip(tokens, plain, reranked, strict=True):
        assert len(after) == 4
        assert {hit.id for hit in after} <= {hit.id for hit in before}
        cosine = {hit.id: hit.score for hit in before}
        docs = encoder.encode_tokens([hit.text for hit in before], truncate=False)
        expected = maxsim_many(token_vectors(query), [token_vectors(d) for d in docs], options)
        best = sorted(zip(expected, (hit.id for hit in before), strict=True), reverse=True)[:4]
        assert [hit.id for hit in after] == [doc_id for _, doc_id in best]
        for hit in after:
            assert hit.score == hit.maxsim_score
            assert hit.sentence_score == pytest.approx(cosine[hit.id], abs=1e-6)
        scores = [hit.score for hit in after]
        assert scores == sorted(scores, reverse=True)


def test_stored_token_vectors_rerank_like_fresh_ones(engine: Engine, encoder: FakeEncoder) -> None:
    rerank = RerankOptions(20, MaxSimOptions(alpha=0.5))
    fresh = engine.search("plain", QUERIES, k=8, rerank=rerank).hits
    assert "encode_tokens" in [call.method for call in encoder.calls]
    encoder.calls.clear()
    kept = engine.search("tokens", QUERIES, k=8, rerank=rerank).hits
    assert [call.method for call in encoder.calls] == ["encode_with_tokens"]  # queries only
    for a, b in zip(fresh, kept, strict=True):
        assert [hit.id for hit in a] == [hit.id for hit in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=2e-3)
        np.testing.assert_allclose(
            [h.maxsim_score for h in a], [h.maxsim_score for h in b], atol=2e-3
        )


def test_hybrid_score_is_reported_with_both_parts(engine: Engine) -> None:
    hits = engine.search(
        "tokens", ["red apple"], k=5, rerank=RerankOptions(0, MaxSimOptions(alpha=0.25))
    ).hits[0]
    for hit in hits:
        assert hit.maxsim_score is not None and hit.sentence_score is not None
        assert hit.score == pytest.approx(
            0.25 * hit.sentence_score + 0.75 * hit.maxsim_score, abs=1e-6
        )


def test_rerank_respects_filter_and_min_score(engine: Engine) -> None:
    rerank = RerankOptions(12)
    hits = engine.search("tokens", ["red"], k=10, filter={"n": 3}, rerank=rerank).hits[0]
    assert [hit.id for hit in hits] == ["d3"]
    all_hits = engine.search("tokens", ["red"], k=10, rerank=rerank).hits[0]
    cut = all_hits[3].score
    kept = engine.search("tokens", ["red"], k=10, min_score=cut, rerank=rerank).hits[0]
    assert [hit.id for hit in kept] == [hit.id for hit in all_hits if hit.score >= cut]


# -- Rerank by ids ------------------------------------------------------------------------


def test_rerank_by_ids_without_re_encoding_documents(engine: Engine, encoder: FakeEncoder) -> None:
    ids = ["d5", "d1", "d9", "d1", "d20"]
    result = engine.rerank("tokens", [("red apple", ids), ("dog", ["d0", "d2"])])
    assert [call.method for call in encoder.calls] == ["encode_with_tokens"]
    first = result.hits[0]
    assert sorted(hit.id for hit in first) == sorted(ids)
    assert [hit.score for hit in first] == sorted((hit.score for hit in first), reverse=True)
    fresh = engine.rerank("plain", [("red apple", ids)]).hits[0]
    expected = {hit.id: hit.maxsim_score for hit in fresh}
    for hit in first:
        assert hit.maxsim_score == pytest.approx(expected[hit.id], abs=2e-3)
        assert hit.text == DOCS[int(hit.id[1:])].text
    assert sorted(hit.id for hit in result.hits[1]) == ["d0", "d2"]


def test_rerank_by_ids_encodes_candidates_when_tokens_are_not_stored(
    engine: Engine, encoder: FakeEncoder
) -> None:
    engine.rerank("plain", [("red apple", ["d5", "d1"])])
    assert [call.method for call in encoder.calls] == ["encode_with_tokens", "encode_tokens"]


# -- bad requests -------------------------------------------------------------------------

Operation = Callable[[Engine], Any]


def case(operation: Operation, error: type[SimsearchError], name: str) -> Any:
    return pytest.param(operation, error, id=name)


def _rerank(depth: int = 0, **options: Any) -> RerankOptions:
    return RerankOptions(depth, MaxSimOptions(**options))


BAD = [
    case(lambda e: e.compare([], maxsim=MaxSimOptions()), InvalidArgumentError, "compare-empty"),
    case(
        lambda e: e.compare([("a", "b")], maxsim=MaxSimOptions(alpha=1.5)),
        InvalidArgumentError,
        "compare-alpha-over-1",
    ),
    case(
        lambda e: e.compare([("a", "b")], maxsim=MaxSimOptions(alpha=float("nan"))),
        InvalidArgumentError,
        "compare-alpha-nan",
    ),
    case(
        lambda e: e.compare([("a", "b")], maxsim=MaxSimOptions(direction="up")),  # type: ignore[arg-type]
        InvalidArgumentError,
        "compare-unknown-direction",
    ),
    case(
        lambda e: e.compare([("a", "b")], maxsim=MaxSimOptions(tokens="some")),  # type: ignore[arg-type]
        InvalidArgumentError,
        "compare-unknown-selection",
    ),
    case(
        lambda e: e.search("tokens", ["q"], k=5, rerank=_rerank(4)),
        InvalidArgumentError,
        "depth-below-k",
    ),
    case(
        lambda e: e.search("tokens", ["q"], k=5, rerank=_rerank(31)),
        InvalidArgumentError,
        "depth-over-max",
    ),
    case(
        lambda e: e.search("tokens", ["q"], k=5, rerank=_rerank(-1)),
        InvalidArgumentError,
        "depth-negative",
    ),
    case(
        lambda e: e.search("tokens", ["q"], k=5, rerank=_rerank(alpha=-0.1)),
        InvalidArgumentError,
        "search-alpha-negative",
    ),
    case(
        lambda e: e.search("tokens", np.ones((1, 16), np.float32), k=5, rerank=_rerank()),
        InvalidArgumentError,
        "rerank-vectors",
    ),
    case(
        lambda e: e.search("tokens", [], k=5, rerank=_rerank()),
        InvalidArgumentError,
        "rerank-no-texts",
    ),
    case(
        lambda e: e.search("tokens", ["q"], k=5, params=SearchParams(ef_search=4)),
        InvalidArgumentError,
        "ef-search-below-k",
    ),
    case(
        lambda e: e.search("tokens", ["q"], k=5, params=SearchParams(nprobe=0)),
        InvalidArgumentError,
        "nprobe-zero",
    ),
    case(lambda e: e.rerank("tokens", []), InvalidArgumentError, "rerank-no-queries"),
    case(lambda e: e.rerank("tokens", [("q", [])]), InvalidArgumentError, "rerank-no-ids"),
    case(lambda e: e.rerank("tokens", [(" ", ["d1"])]), InvalidArgumentError, "rerank-blank"),
    case(
        lambda e: e.rerank("tokens", [("q", ["d1", ""])]), InvalidArgumentError, "rerank-empty-id"
    ),
    case(lambda e: e.rerank("tokens", [("q", ["d1", "zz"])]), NotFoundError, "rerank-unknown-id"),
    case(lambda e: e.rerank("nope", [("q", ["d1"])]), NotFoundError, "rerank-unknown-collection"),
    case(lambda e: e.rerank("tokens", [("q", ["d1"] * 31)]), LimitExceededError, "rerank-31-ids"),
    case(
        lambda e: e.rerank("tokens", [("q", ["d1"])], MaxSimOptions(alpha=2)),
        InvalidArgumentError,
        "rerank-alpha",
    ),
]


@pytest.mark.parametrize(("operation", "error"), BAD)
def test_bad_requests_fail_before_encoding_and_change_nothing(
    engine: Engine,
    encoder: FakeEncoder,
    catalog: FaissCatalog,
    operation: Operation,
    error: type[SimsearchError],
) -> None:
    before = stored(catalog)
    with pytest.raises(SimsearchError) as raised:
        operation(engine)
    assert type(raised.value) is error, raised.value
    assert encoder.calls == []
    assert stored(catalog) == before


def test_rerank_takes_up_to_max_rerank_depth_ids_not_max_batch(engine: Engine) -> None:
    ids = [f"d{i}" for i in range(20)]  # over max_batch (8), within max_rerank_depth (30)
    (hits,) = engine.rerank("tokens", [("red apple", ids)]).hits
    assert sorted(hit.id for hit in hits) == sorted(ids)
