"""The engine's side of collection calibrations, with a fake encoder and a real FAISS catalog:
create and its checks, Calibrate, Describe, Encode / Compare / Rerank with a collection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simsearch.engine import Engine
from simsearch.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from simsearch.index import FaissCatalog
from simsearch.types import (
    Calibration,
    CalibrationKind,
    Document,
    FloatArray,
    Limits,
    MaxSimOptions,
    Pooling,
)
from unit.fake_encoder import DIMENSION, FakeEncoder

LIMITS = Limits(max_batch=64, max_k=20, max_text_chars=200)
CENTER = Calibration(CalibrationKind.CENTER)
WHITEN = Calibration(CalibrationKind.WHITEN)
WORDS = ["red", "green", "blue", "apple", "pie", "car", "fast", "slow", "bread", "river"]
WORDS += ["stone", "cloud", "rain", "sun", "moon"]
DOCS = [
    Document(f"d{i}", " ".join(WORDS[j % len(WORDS)] for j in range(i, i + 3 + i % 4)))
    for i in range(40)
]
QUERIES = ["red apple pie", "fast car on the river", "moon and sun"]


@pytest.fixture
def encoder() -> FakeEncoder:
    return FakeEncoder("fingerprint-a")


@pytest.fixture
def engine(encoder: FakeEncoder, catalog: FaissCatalog) -> Engine:
    return Engine(encoder, catalog, LIMITS)


def raw(encoder: FakeEncoder, texts: list[str], pooling: Pooling = Pooling.POOLER) -> FloatArray:
    return encoder.encode(texts, pooling, normalize=True, truncate=False).embeddings


def centred(vectors: FloatArray, mean: FloatArray) -> FloatArray:
    out = vectors.astype(np.float64) - mean
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def calibrated_collection(engine: Engine, calibration: Calibration = CENTER) -> None:
    engine.create_collection("docs", calibration=calibration)
    engine.upsert("docs", DOCS)
    engine.calibrate("docs")


def test_create_describes_the_calibration_and_its_threshold(engine: Engine) -> None:
    info = engine.create_collection("docs", calibration=Calibration(CalibrationKind.WHITEN, 8))
    assert info.spec.calibration == Calibration(CalibrationKind.WHITEN, 8)
    state = engine.describe_collection("docs").calibration
    assert (state.calibration.kind, state.fit_threshold, state.fitted) == (
        CalibrationKind.WHITEN,
        1000,
        False,
    )
    assert engine.create_collection("plain").calibration.calibration.kind == CalibrationKind.NONE


@pytest.mark.parametrize(
    ("calibration", "message"),
    [
        (Calibration(CalibrationKind.CENTER, 4), "whiten only"),
        (Calibration(CalibrationKind.WHITEN, DIMENSION + 1), f"1..{DIMENSION}"),
        (Calibration(CalibrationKind.WHITEN, -1), "must be 0"),
    ],
)
def test_create_refuses_bad_calibrations(
    engine: Engine, calibration: Calibration, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        engine.create_collection("docs", calibration=calibration)
    assert engine.list_collections() == []


def test_calibrate_fits_and_describe_shows_it(engine: Engine, encoder: FakeEncoder) -> None:
    engine.create_collection("docs", calibration=CENTER)
    engine.upsert("docs", DOCS)
    info = engine.calibrate("docs")
    assert info.calibration.fitted and info.calibration.fitted_on == len(DOCS)
    assert engine.describe_collection("docs").calibration == info.calibration
    # get_embeddings keeps returning the stored raw vectors.
    np.testing.assert_allclose(
        engine.get_embeddings("docs", ["d3"]), raw(encoder, [DOCS[3].text]), atol=1e-6
    )


def test_calibrate_errors(engine: Engine) -> None:
    with pytest.raises(NotFoundError):
        engine.calibrate("missing")
    with pytest.raises(InvalidArgumentError):
        engine.calibrate("bad name!")
    engine.create_collection("plain")
    engine.upsert("plain", DOCS)
    with pytest.raises(FailedPreconditionError, match="nothing to fit"):
        engine.calibrate("plain")
    engine.create_collection("docs", calibration=WHITEN)
    engine.upsert("docs", DOCS[:1])
    with pytest.raises(FailedPreconditionError, match="at least 2"):
        engine.calibrate("docs")


def test_search_encode_compare_and_rerank_use_the_calibration(
    engine: Engine, encoder: FakeEncoder
) -> None:
    calibrated_collection(engine)
    stored = raw(encoder, [doc.text for doc in DOCS])
    mean = stored.astype(np.float64).mean(axis=0)
    queries = centred(raw(encoder, QUERIES), mean)
    # Encode: as the collection embeds, calibrated, normalised.
    encoded = engine.encode(QUERIES, collection="docs").embeddings
    np.testing.assert_allclose(encoded, queries, atol=1e-5)
    # Search: cosine in the calibrated space.
    documents = centred(stored, mean)
    scores = queries @ documents.T
    hits = engine.search("docs", QUERIES, k=5).hits
    for row, want in zip(hits, scores, strict=True):
        top = np.argsort(-want, kind="stable")[:5]
        np.testing.assert_allclose([hit.score for hit in row], want[top], atol=1e-5)
    # Compare: cosine of calibrated vectors.
    pairs = [(QUERIES[0], DOCS[0].text), (QUERIES[1], DOCS[5].text)]
    got = engine.compare(pairs, collection="docs").cosine
    np.testing.assert_allclose(got, [scores[0, 0], scores[1, 5]], atol=1e-5)
    plain = engine.compare(pairs).cosine  # without a collection: raw cosine, as before
    raw_q = raw(encoder, [QUERIES[0]])[0]
    assert abs(plain[0] - float(raw_q @ stored[0])) < 1e-5 and abs(plain[0] - got[0]) > 1e-3
    # Rerank's sentence scores are the collection's too.
    reranked = engine.rerank("docs", [(QUERIES[0], ["d0", "d7"])], MaxSimOptions()).hits[0]
    by_id = {hit.id: hit.sentence_score for hit in reranked}
    np.testing.assert_allclose([by_id["d0"], by_id["d7"]], scores[0, [0, 7]], atol=1e-5)


def test_whiten_with_fewer_dimensions_encodes_that_many(engine: Engine) -> None:
    calibrated_collection(engine, Calibration(CalibrationKind.WHITEN, 6))
    encoded = engine.encode(QUERIES, collection="docs").embeddings
    assert encoded.shape == (3, 6)
    np.testing.assert_allclose(np.linalg.norm(encoded, axis=1), 1.0, atol=1e-5)
    hits = engine.search("docs", QUERIES, k=3).hits
    np.testing.assert_allclose(
        [row[0].score for row in hits],
        [
            float(np.max(q @ engine.encode([d.text for d in DOCS], collection="docs").embeddings.T))
            for q in encoded
        ],
        atol=1e-5,
    )


def test_an_unfitted_collection_encodes_raw_normalised(
    engine: Engine, encoder: FakeEncoder
) -> None:
    engine.create_collection("docs", calibration=CENTER)
    encoded = engine.encode(QUERIES, collection="docs", normalize=False).embeddings
    np.testing.assert_allclose(encoded, raw(encoder, QUERIES), atol=1e-6)


def test_the_collection_pooling_is_used_and_another_refused(
    engine: Engine, encoder: FakeEncoder
) -> None:
    engine.create_collection("docs", Pooling.CLS, calibration=CENTER)
    engine.encode(QUERIES, collection="docs")
    assert encoder.calls[-1].pooling == Pooling.CLS
    engine.encode(QUERIES, Pooling.CLS, collection="docs")
    with pytest.raises(InvalidArgumentError, match="pooling cls, not mean"):
        engine.encode(QUERIES, Pooling.MEAN, collection="docs")
    with pytest.raises(InvalidArgumentError, match="pooling cls, not pooler"):
        engine.compare([("a", "b")], Pooling.POOLER, collection="docs")
    with pytest.raises(NotFoundError):
        engine.compare([("a", "b")], collection="missing")
    engine.encode(QUERIES)
    assert encoder.calls[-1].pooling == Pooling.POOLER  # no collection: pooler, as before


def test_a_collection_of_another_model_is_refused(
    engine: Engine, catalog: FaissCatalog, tmp_path: Path
) -> None:
    calibrated_collection(engine)
    catalog.close()
    reopened = FaissCatalog(tmp_path / "data")
    try:
        other = Engine(FakeEncoder("fingerprint-b"), reopened, LIMITS)
        for attempt in (
            lambda: other.calibrate("docs"),
            lambda: other.encode(QUERIES, collection="docs"),
            lambda: other.compare([("a", "b")], collection="docs"),
        ):
            with pytest.raises(FailedPreconditionError, match="was fitted on that model"):
                attempt()
        assert other.describe_collection("docs").calibration.fitted
    finally:
        reopened.close()
