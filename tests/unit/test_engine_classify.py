"""Classify and the cross-encoder rerank through the engine, with the fake encoder's head and a
real FAISS catalog; the messages' codecs and sizes beside them.

The fake head is a fixed linear map of the fake POOLER vector (``unit.fake_encoder``), so the
expected probabilities are computed here from the same vectors.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from simsearch.engine import Engine, sizes
from simsearch.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    LimitExceededError,
)
from simsearch.index import FaissCatalog
from simsearch.types import (
    Classifications,
    ClassifierHead,
    Document,
    Hit,
    Limits,
    ModelInfo,
    RerankOptions,
)
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire.classification import (
    classifications_from_wire,
    classifications_to_wire,
    head_from_wire,
    head_to_wire,
)
from simsearch.wire.documents import hit_from_wire, hit_to_wire
from simsearch.wire.info import model_from_wire, model_to_wire
from simsearch.wire.options import rerank_from_wire, rerank_to_wire
from unit.fake_encoder import FakeEncoder

LIMITS = Limits(max_batch=8, max_k=20, max_text_chars=200, max_rerank_depth=10)
NLI = ClassifierHead(
    ("entailment", "neutral", "contradiction"), "single_label_classification", "entailment"
)
NO_RELEVANCE = ClassifierHead(("a", "b", "c"), "multi_label_classification", "")
MAX_WORDS = 12
DOCS = [
    Document("apple", "red apple pie recipe"),
    Document("banana", "yellow banana bread recipe"),
    Document("car", "fast red sports car"),
    Document("auto", "schnelles rotes auto"),
    Document("kuchen", "apfel kuchen rezept"),
    Document("pie", "apple pie with cream"),
]


def engine_with(head: ClassifierHead | None, catalog: FaissCatalog) -> tuple[Engine, FakeEncoder]:
    encoder = FakeEncoder(max_length=MAX_WORDS, head=head)
    return Engine(encoder, catalog, LIMITS), encoder


@pytest.fixture
def nli(catalog: FaissCatalog) -> tuple[Engine, FakeEncoder]:
    engine, encoder = engine_with(NLI, catalog)
    engine.create_collection("docs")
    engine.upsert("docs", DOCS)
    encoder.calls.clear()
    return engine, encoder


def expected_probabilities(encoder: FakeEncoder, inputs: list[tuple[str, str]]) -> np.ndarray:
    """Softmax of the fake head over the raw pooler vectors, computed apart from classify."""
    pooled = encoder.encode(inputs, encoder.info.poolings[0], normalize=False, truncate=True)
    from unit.fake_encoder import head_weights

    weight, bias = head_weights(len(NLI.labels))
    logits = pooled.embeddings.astype(np.float64) @ weight.T + bias
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


# -- Classify ---------------------------------------------------------------------------


def test_classify_texts_and_pairs(nli: tuple[Engine, FakeEncoder]) -> None:
    engine, encoder = nli
    pairs = [("a cat sat", "a cat was sitting"), ("red car", "apple pie")]
    result = engine.classify(pairs)
    assert result.logits.shape == result.probabilities.shape == (2, 3)
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(
        result.probabilities, expected_probabilities(encoder, pairs), rtol=1e-5
    )
    assert list(result.label_ids) == list(np.argmax(result.probabilities, axis=1))
    assert result.labels == tuple(NLI.labels[i] for i in result.label_ids)
    texts = engine.classify(["a cat sat"])
    assert not np.allclose(texts.logits[0], result.logits[0])  # segment B counts


def test_classify_refuses_before_the_model(catalog: FaissCatalog) -> None:
    engine, encoder = engine_with(NLI, catalog)
    with pytest.raises(InvalidArgumentError, match="empty"):
        engine.classify([])
    with pytest.raises(InvalidArgumentError):
        engine.classify([("a", "")])
    with pytest.raises(LimitExceededError):
        engine.classify(["word"] * (LIMITS.max_batch + 1))
    assert encoder.passes == 0
    long = " ".join(f"w{i}" for i in range(MAX_WORDS + 3))
    with pytest.raises(InvalidArgumentError, match="inputs\\[1\\]"):
        engine.classify(["short", long])
    assert engine.classify(["short", long], truncate=True).truncated == (1,)


def test_a_model_without_head_is_a_failed_precondition(catalog: FaissCatalog) -> None:
    engine, encoder = engine_with(None, catalog)
    with pytest.raises(FailedPreconditionError) as raised:
        engine.classify(["a cat"])
    message = str(raised.value)
    assert "no sequence-classification head" in message
    assert "BertForSequenceClassification" in message and "id2label" in message
    assert "classifier.weight" in message
    assert encoder.calls == []


def test_an_answer_over_the_message_limit_is_refused_first(catalog: FaissCatalog) -> None:
    encoder = FakeEncoder(max_length=MAX_WORDS, head=NLI)
    engine = Engine(encoder, catalog, replace(LIMITS, max_message_bytes=100))
    with pytest.raises(LimitExceededError, match="send at most 2 inputs per request"):
        engine.classify(["a", "b", "c", "d"])
    assert encoder.passes == 0


@pytest.mark.parametrize("truncated", [(), (0, 1, 300)])
def test_classify_size_is_exact_when_every_field_is_sent(truncated: tuple[int, ...]) -> None:
    labels = ("entailment", "neutral", "contradiction")
    count = 301 if truncated else 3
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((count, 3)).astype(np.float32)
    result = Classifications(
        logits=logits,
        probabilities=np.abs(logits) + 0.5,
        label_ids=np.full(count, 2, np.int64),
        labels=("contradiction",) * count,  # the longest name, a label id > 0
        truncated=truncated,
    )
    estimate = sizes.classify_response(count, labels, truncate=bool(truncated))
    actual = classifications_to_wire(result).ByteSize()
    assert actual <= estimate.total <= actual + 3 * count
    if not truncated:
        assert estimate.total == actual


# -- cross-encoder rerank -----------------------------------------------------------------


def test_cross_encoder_rerank_scores_each_pair_by_the_relevance_label(
    nli: tuple[Engine, FakeEncoder],
) -> None:
    engine, encoder = nli
    query = "apple pie recipe"
    plain = {hit.id: hit.score for hit in engine.search("docs", [query], 6).hits[0]}
    result = engine.search("docs", [query], 3, rerank=RerankOptions(depth=6, cross_encoder=True))
    (hits,) = result.hits
    assert len(hits) == 3
    expected = expected_probabilities(encoder, [(query, doc.text) for doc in DOCS])[:, 0]
    by_id = {doc.id: float(p) for doc, p in zip(DOCS, expected, strict=True)}
    best = sorted(by_id, key=lambda doc_id: (-by_id[doc_id], doc_id))[:3]
    assert [hit.id for hit in hits] == best
    for hit in hits:
        assert hit.score == hit.relevance_score == pytest.approx(by_id[hit.id], rel=1e-5)
        assert hit.sentence_score == pytest.approx(plain[hit.id], abs=1e-6)
        assert hit.maxsim_score is None
    classified = [call for call in encoder.calls if call.method == "classify"]
    assert len(classified) == 1 and len(classified[0].inputs) == 6  # one call, every pair
    assert classified[0].truncate  # stored texts are cut to fit beside the query


def test_cross_encoder_min_score_applies_to_the_relevance(
    nli: tuple[Engine, FakeEncoder],
) -> None:
    engine, _ = nli
    options = RerankOptions(depth=6, cross_encoder=True)
    every = engine.search("docs", ["apple pie"], 6, rerank=options).hits[0]
    threshold = every[2].score
    kept = engine.search("docs", ["apple pie"], 6, rerank=options, min_score=threshold).hits[0]
    assert [hit.id for hit in kept] == [hit.id for hit in every[:3]]


def test_cross_encoder_ties_are_ordered_by_id() -> None:
    from simsearch.engine.reranking import cross_encoder_rerank

    class Constant(FakeEncoder):
        def classify(self, inputs, *, truncate):  # type: ignore[no-untyped-def]
            n = len(inputs)
            return Classifications(
                np.zeros((n, 3), np.float32),
                np.full((n, 3), 1 / 3, np.float32),
                np.zeros(n, np.int64),
                ("entailment",) * n,
            )

    hits = [[Hit("b", 0.9, "x"), Hit("c", 0.8, "y"), Hit("a", 0.7, "z")]]
    (row,) = cross_encoder_rerank(Constant(head=NLI), ["q"], hits, 0)
    assert [hit.id for hit in row] == ["a", "b", "c"]
    assert [hit.sentence_score for hit in row] == pytest.approx([0.7, 0.9, 0.8])


def test_cross_encoder_errors(catalog: FaissCatalog) -> None:
    options = RerankOptions(depth=5, cross_encoder=True)
    for head, match in ((None, "no sequence-classification head"), (NO_RELEVANCE, "relevance")):
        engine, encoder = engine_with(head, catalog)
        if "docs" not in catalog.names():
            engine.create_collection("docs")
            engine.upsert("docs", DOCS)
        encoder.calls.clear()
        with pytest.raises(FailedPreconditionError, match=match):
            engine.search("docs", ["apple"], 3, rerank=options)
        assert encoder.calls == []
    engine, encoder = engine_with(NLI, catalog)
    vectors = np.ones((1, encoder.info.hidden_size), np.float32)
    with pytest.raises(InvalidArgumentError, match="needs query texts"):
        engine.search("docs", vectors, 3, rerank=options)
    with pytest.raises(InvalidArgumentError, match="depth"):
        engine.search("docs", ["apple"], 3, rerank=RerankOptions(depth=11, cross_encoder=True))
    assert encoder.calls == []


# -- wire -------------------------------------------------------------------------------


def test_head_and_model_round_trip() -> None:
    assert head_from_wire(head_to_wire(NLI)) == NLI
    model = ModelInfo("m", "f" * 16, 32, 64, 100, head=NLI)
    poolings = [pb.POOLING_POOLER, pb.POOLING_CLS, pb.POOLING_MEAN]
    assert model_from_wire(model_to_wire(model), poolings) == model
    headless = replace(model, head=None)
    assert not model_to_wire(headless).HasField("head")
    assert model_from_wire(model_to_wire(headless), poolings).head is None


def test_classifications_round_trip() -> None:
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    result = Classifications(
        logits=np.log(probabilities),
        probabilities=probabilities,
        label_ids=np.array([0, 2], np.int64),
        labels=("entailment", "contradiction"),
        truncated=(1,),
    )
    back = classifications_from_wire(classifications_to_wire(result))
    np.testing.assert_array_equal(back.logits, result.logits)
    np.testing.assert_array_equal(back.probabilities, result.probabilities)
    np.testing.assert_array_equal(back.label_ids, result.label_ids)
    assert back.labels == result.labels and back.truncated == (1,)
    empty = classifications_from_wire(pb.ClassifyResponse())
    assert empty.logits.shape[0] == 0 and empty.labels == ()


def test_rerank_options_and_hits_carry_the_cross_encoder() -> None:
    options = RerankOptions(depth=7, cross_encoder=True)
    assert rerank_from_wire(rerank_to_wire(options)) == options
    assert not rerank_from_wire(rerank_to_wire(RerankOptions(depth=7))).cross_encoder
    hit = Hit("a", 0.75, "text", {}, sentence_score=0.5, relevance_score=0.75)
    assert hit_from_wire(hit_to_wire(hit)) == hit
    plain = Hit("a", 0.5, "text", {}, sentence_score=0.5)
    assert hit_from_wire(hit_to_wire(plain)).relevance_score is None
    assert sizes.hit_size(hit) == hit_to_wire(hit).ByteSize()
