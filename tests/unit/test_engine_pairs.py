"""``Engine.mine_pairs`` and search by stored ids with a fake encoder and a real FAISS
catalog: the checks (each before any work, with its error class), pairing's preconditions,
MaxSim rescoring against ``compare``, and "more like this" excluding its own ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from simsearch.engine import Engine
from simsearch.errors import (
    FailedPreconditionError,
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
    Pooling,
    RerankOptions,
    StoredIds,
)
from unit.fake_encoder import FakeEncoder

LIMITS = Limits(max_batch=8, max_k=20, max_text_chars=200)
WORDS = [
    "red",
    "apple",
    "pie",
    "car",
    "fast",
    "blue",
    "sky",
    "sea",
    "green",
    "tree",
    "bread",
    "road",
]


def _documents(n: int, seed: int = 0) -> list[Document]:
    rng = np.random.default_rng(seed)
    return [
        Document(f"d{i:02d}", " ".join(rng.choice(WORDS, 4, replace=False)), {"g": i % 2})
        for i in range(n)
    ]


DOCS = _documents(30)


@pytest.fixture
def encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def engine(encoder: FakeEncoder, catalog: FaissCatalog) -> Engine:
    engine = Engine(encoder, catalog, LIMITS)
    engine.create_collection("docs")
    engine.create_collection("tokens", store_tokens=True)
    for start in range(0, len(DOCS), 8):
        engine.upsert("docs", DOCS[start : start + 8])
        engine.upsert("tokens", DOCS[start : start + 8])
    encoder.calls.clear()
    return engine


def _pairs(engine: Engine, *args: Any, **kwargs: Any) -> list[Any]:
    return [pair for chunk in engine.mine_pairs(*args, **kwargs) for pair in chunk.pairs]


def test_mining_runs_off_stored_vectors(engine: Engine, encoder: FakeEncoder) -> None:
    pairs = _pairs(engine, "docs", top_m=3)
    assert pairs and encoder.calls == []  # nothing encoded
    stored = np.concatenate(
        [
            engine.get_embeddings("docs", [doc.id for doc in DOCS[i : i + 8]])
            for i in range(0, 30, 8)
        ]
    )
    index = {doc.id: i for i, doc in enumerate(DOCS)}
    for pair in pairs:
        cosine = float(stored[index[pair.a]] @ stored[index[pair.b]])
        assert pair.score == pair.sentence_score == pytest.approx(cosine, abs=1e-6)
        assert pair.maxsim_score is None
    keys = [(pair.a, -pair.score, pair.b) for pair in pairs]
    assert keys == sorted(keys)


@pytest.mark.parametrize("store", ["docs", "tokens"])
def test_maxsim_rescores_each_pair(engine: Engine, store: str) -> None:
    options = MaxSimOptions(direction=MaxSimDirection.QUERY_TO_DOCUMENT, alpha=0.25)
    pairs = _pairs(engine, store, top_m=2, maxsim=options, min_score=0.5)
    texts = {doc.id: doc.text for doc in DOCS}
    assert pairs and all(pair.score >= 0.5 for pair in pairs)
    tolerance = 1e-3 if store == "tokens" else 1e-5  # stored token vectors are float16
    for start in range(0, len(pairs), 8):
        some = pairs[start : start + 8]
        expected = engine.compare([(texts[p.a], texts[p.b]) for p in some], maxsim=options)
        assert expected.maxsim is not None and expected.hybrid is not None
        maxsim, hybrid = expected.maxsim.tolist(), expected.hybrid.tolist()
        assert [p.maxsim_score for p in some] == pytest.approx(maxsim, abs=tolerance)
        assert [p.score for p in some] == pytest.approx(hybrid, abs=tolerance)
        assert [p.sentence_score for p in some] == pytest.approx(expected.cosine.tolist(), abs=1e-5)
    keys = [(pair.a, -pair.score, pair.b) for pair in pairs]
    assert keys == sorted(keys)


def test_maxsim_keeps_the_sentence_candidates(engine: Engine) -> None:
    """The same pairs are listed with and without MaxSim (candidates and dedupe by the
    sentence vectors); only their scores and order within a document change."""
    plain = {(p.a, p.b) for p in _pairs(engine, "docs", top_m=3)}
    rescored = {(p.a, p.b) for p in _pairs(engine, "docs", top_m=3, maxsim=MaxSimOptions())}
    assert plain == rescored


def test_pairing_two_collections(engine: Engine, encoder: FakeEncoder) -> None:
    engine.create_collection("answers")
    engine.upsert("answers", _documents(8, seed=1))
    encoder.calls.clear()
    pairs = _pairs(engine, "docs", "answers", top_m=2, filter={"g": 1})
    assert encoder.calls == []
    assert {pair.a for pair in pairs} == {doc.id for doc in DOCS if doc.metadata["g"] == 1}
    assert len(pairs) == 2 * len({pair.a for pair in pairs})
    answers = {doc.id: doc for doc in _documents(8, seed=1)}
    assert all(answers[pair.b].metadata["g"] == 1 for pair in pairs)


def test_pairing_needs_the_same_pooling(engine: Engine) -> None:
    engine.create_collection("means", Pooling.MEAN)
    with pytest.raises(FailedPreconditionError, match=r"'docs' \(pooling pooler.*'means'"):
        engine.mine_pairs("docs", "means")


Call = Callable[[Engine], object]

CASES: list[tuple[Call, type[SimsearchError], str]] = [
    (lambda e: e.mine_pairs("docs", top_m=-1), InvalidArgumentError, "top_m must be at least"),
    (lambda e: e.mine_pairs("docs", top_m=21), LimitExceededError, "top_m is 21"),
    (lambda e: e.mine_pairs("docs", min_score=1.5), InvalidArgumentError, r"\[-1, 1\]"),
    (lambda e: e.mine_pairs("docs", min_score=-1.01), InvalidArgumentError, r"\[-1, 1\]"),
    (lambda e: e.mine_pairs("docs", min_score=float("nan")), InvalidArgumentError, "NaN"),
    (lambda e: e.mine_pairs("docs", chunk_size=-1), InvalidArgumentError, "chunk_size"),
    (lambda e: e.mine_pairs("docs", chunk_size=9), LimitExceededError, "8 pairs per message"),
    (lambda e: e.mine_pairs("docs", filter={"g": [1]}), InvalidArgumentError, "filter"),
    (
        lambda e: e.mine_pairs("docs", maxsim=MaxSimOptions(alpha=2.0)),
        InvalidArgumentError,
        "alpha",
    ),
    (lambda e: e.mine_pairs("nope"), NotFoundError, "nope"),
    (lambda e: e.mine_pairs("docs", "nope"), NotFoundError, "nope"),
    (lambda e: e.mine_pairs("a/b"), InvalidArgumentError, "collection name"),
    (lambda e: e.search("docs", StoredIds(("d01", "zz")), k=2), NotFoundError, "'zz'"),
    (lambda e: e.search("docs", StoredIds(()), k=2), InvalidArgumentError, "ids is empty"),
    (lambda e: e.search("docs", StoredIds(("a",) * 9), k=2), LimitExceededError, "ids has 9"),
    (lambda e: e.search("docs", StoredIds(("",)), k=2), InvalidArgumentError, r"ids\[0\]"),
]


@pytest.mark.parametrize(("call", "error", "message"), CASES)
def test_refusals_come_before_any_work(
    engine: Engine, encoder: FakeEncoder, call: Call, error: type[SimsearchError], message: str
) -> None:
    with pytest.raises(error, match=message):
        call(engine)  # mine_pairs raises here, before its first chunk is asked for
    assert encoder.calls == []


def test_search_by_ids_excludes_the_ids(engine: Engine, encoder: FakeEncoder) -> None:
    ids = ("d03", "d07")
    result = engine.search("docs", StoredIds(ids), k=5, min_score=-1.0)
    assert encoder.calls == []
    vectors = engine.get_embeddings("docs", list(ids))
    plain = engine.search("docs", vectors, k=7).hits
    for row, reference in zip(result.hits, plain, strict=True):
        assert len(row) == 5 and not {hit.id for hit in row} & set(ids)
        expected = [hit for hit in reference if hit.id not in ids][:5]
        assert [hit.id for hit in row] == [hit.id for hit in expected]
    assert result.truncated == ()


def test_search_by_ids_with_filter_and_min_score(engine: Engine) -> None:
    row = engine.search("docs", StoredIds(("d01",)), k=20, filter={"g": 1}, min_score=0.2)
    hits = row.hits[0]
    assert hits and all(h.metadata["g"] == 1 and h.score >= 0.2 for h in hits)
    assert "d01" not in {hit.id for hit in hits}


def test_search_by_ids_with_rerank_uses_stored_texts(engine: Engine, encoder: FakeEncoder) -> None:
    rerank = RerankOptions(depth=10)
    result = engine.search("tokens", StoredIds(("d02",)), k=4, rerank=rerank)
    assert [call.inputs for call in encoder.calls] == [(DOCS[2].text,)]
    by_text = engine.search("tokens", [DOCS[2].text], k=5, rerank=rerank).hits[0]
    assert [hit.id for hit in result.hits[0]] == [h.id for h in by_text if h.id != "d02"][:4]
    assert all(hit.maxsim_score is not None for hit in result.hits[0])
