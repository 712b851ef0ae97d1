"""The engine with a fake encoder and a real FAISS catalog: operations, pooling, models, checks.

Every validation failure must raise its documented exception class before any encoding and
leave the stored data as it was.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simsearch.engine import Engine
from simsearch.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    LimitExceededError,
    NotFoundError,
    SimsearchError,
    UnavailableError,
)
from simsearch.index import FaissCatalog
from simsearch.types import Document, Limits, Pooling
from support.catalogs import stored
from support.stored_spec import set_stored_index
from unit.fake_encoder import DIMENSION, FakeEncoder

LIMITS = Limits(max_batch=8, max_k=20, max_text_chars=200)
FINGERPRINT_A = "fingerprint-aaaa"
FINGERPRINT_B = "fingerprint-bbbb"
MAX_WORDS = 12

DOCS = [
    Document("apple", "red apple pie recipe", {"lang": "en", "year": 2020, "fruit": True}),
    Document("banana", "yellow banana bread recipe", {"lang": "en", "year": 2021, "fruit": True}),
    Document("car", "fast red sports car", {"lang": "en", "year": 2020, "fruit": False}),
    Document("auto", "schnelles rotes auto", {"lang": "de", "year": 2022, "fruit": False}),
    Document("kuchen", "apfel kuchen rezept", {"lang": "de", "year": 2021, "fruit": True}),
]
TEXTS = {doc.id: doc.text for doc in DOCS}
LONG_TEXT = " ".join(f"w{i}" for i in range(MAX_WORDS + 8))  # over max_length, under 200 chars


@pytest.fixture
def encoder() -> FakeEncoder:
    return FakeEncoder(FINGERPRINT_A, max_length=MAX_WORDS)


@pytest.fixture
def engine(encoder: FakeEncoder, catalog: FaissCatalog) -> Engine:
    return Engine(encoder, catalog, LIMITS)


@pytest.fixture
def docs(engine: Engine, encoder: FakeEncoder) -> Engine:
    """The engine with a collection "docs" (pooler) holding DOCS; the call log is cleared."""
    engine.create_collection("docs")
    engine.upsert("docs", DOCS)
    encoder.calls.clear()
    return engine


def ids(hits: list[Any]) -> list[str]:
    return [hit.id for hit in hits]


# -- collections --------------------------------------------------------------------------


def test_model_and_poolings(engine: Engine) -> None:
    assert engine.model.fingerprint == FINGERPRINT_A
    assert engine.model.hidden_size == DIMENSION
    assert engine.poolings() == [Pooling.POOLER, Pooling.CLS, Pooling.MEAN]


def test_create_describe_list_drop(engine: Engine) -> None:
    before = time.time()
    created = engine.create_collection("docs")
    assert created.spec.name == "docs"
    assert created.spec.pooling is Pooling.POOLER
    assert created.spec.index == "flat"
    assert created.spec.dimension == DIMENSION
    assert (created.spec.model_name, created.spec.model_fingerprint) == ("fake", FINGERPRINT_A)
    assert (created.count, created.compatible) == (0, True)
    assert before <= created.created_at <= time.time()
    assert engine.describe_collection("docs") == created

    other = engine.create_collection("Other.v-1", Pooling.MEAN, index="  ")
    assert (other.spec.pooling, other.spec.index) == (Pooling.MEAN, "flat")
    assert [info.spec.name for info in engine.list_collections()] == ["Other.v-1", "docs"]

    engine.drop_collection("docs")
    assert [info.spec.name for info in engine.list_collections()] == ["Other.v-1"]
    with pytest.raises(NotFoundError, match="'docs'"):
        engine.describe_collection("docs")
    with pytest.raises(NotFoundError, match="'docs'"):
        engine.drop_collection("docs")
    assert engine.create_collection("docs").count == 0


def test_describe_and_list_report_counts(docs: Engine) -> None:
    assert docs.describe_collection("docs").count == len(DOCS)
    assert [(i.spec.name, i.count, i.compatible) for i in docs.list_collections()] == [
        ("docs", len(DOCS), True)
    ]


def test_create_with_an_index_faiss_cannot_build_leaves_nothing(
    engine: Engine, catalog: FaissCatalog
) -> None:
    with pytest.raises(InvalidArgumentError):
        engine.create_collection("bad", index="NoSuchIndex42")
    assert catalog.names() == []


def test_create_with_an_approximate_index(engine: Engine) -> None:
    info = engine.create_collection("hnsw", index="HNSW16")
    assert info.spec.index == "HNSW16"
    engine.upsert("hnsw", DOCS)
    assert ids(engine.search("hnsw", [TEXTS["car"]], k=1).hits[0]) == ["car"]


def test_duplicate_collection_is_already_exists(docs: Engine, catalog: FaissCatalog) -> None:
    before = stored(catalog)
    with pytest.raises(AlreadyExistsError, match="'docs'"):
        docs.create_collection("docs", Pooling.CLS)
    assert stored(catalog) == before


# -- upsert, get, delete --------------------------------------------------------------------


def test_upsert_stores_documents_and_embeddings(docs: Engine, encoder: FakeEncoder) -> None:
    assert docs.get("docs", ["car", "apple", "banana"]) == [DOCS[2], DOCS[0], DOCS[1]]
    year = docs.get("docs", ["apple"])[0].metadata["year"]
    assert type(year) is int
    embeddings = docs.get_embeddings("docs", ["kuchen", "apple"])
    assert embeddings.shape == (2, DIMENSION)
    assert embeddings.dtype == np.float32
    expected = encoder.encode(
        [TEXTS["kuchen"], TEXTS["apple"]], Pooling.POOLER, normalize=True, truncate=False
    )
    np.testing.assert_allclose(embeddings, expected.embeddings, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-6)


def test_upsert_encodes_once_with_the_collection_pooling_normalised(
    engine: Engine, encoder: FakeEncoder
) -> None:
    engine.create_collection("means", Pooling.MEAN)
    assert engine.upsert("means", DOCS[:2]) == ()
    assert len(encoder.calls) == 1
    call = encoder.calls[0]
    assert (call.method, call.pooling, call.normalize, call.truncate) == (
        "encode",
        Pooling.MEAN,
        True,
        False,
    )
    assert call.inputs == (TEXTS["apple"], TEXTS["banana"])


def test_get_names_every_missing_id(docs: Engine) -> None:
    with pytest.raises(NotFoundError) as raised:
        docs.get("docs", ["apple", "nope", "car", "gone"])
    message = str(raised.value)
    assert "'nope'" in message and "'gone'" in message
    assert "'apple'" not in message and "'car'" not in message


def test_get_embeddings_of_a_missing_id_is_not_found(docs: Engine) -> None:
    with pytest.raises(NotFoundError, match="'nope'"):
        docs.get_embeddings("docs", ["apple", "nope"])


def test_replacement_is_visible_at_once(docs: Engine) -> None:
    new = Document("apple", "green apple tart", {"lang": "fr"})
    docs.upsert("docs", [new])
    assert docs.describe_collection("docs").count == len(DOCS)
    assert docs.get("docs", ["apple"]) == [new]
    best = docs.search("docs", ["green apple tart"], k=1).hits[0][0]
    assert (best.id, best.text, best.metadata) == ("apple", new.text, new.metadata)
    assert best.score == pytest.approx(1, abs=1e-5)
    old = docs.search("docs", [TEXTS["apple"]], k=20).hits[0]
    assert all(hit.score < 0.99 for hit in old)


def test_delete_is_visible_at_once(docs: Engine) -> None:
    assert docs.delete("docs", ["car", "nope"]) == 1
    assert docs.delete("docs", ["car"]) == 0
    assert docs.describe_collection("docs").count == len(DOCS) - 1
    with pytest.raises(NotFoundError, match="'car'"):
        docs.get("docs", ["car"])
    hits = docs.search("docs", [TEXTS["car"]], k=20).hits[0]
    assert sorted(ids(hits)) == sorted(TEXTS.keys() - {"car"})


def test_too_long_text_is_refused_unless_truncated(
    docs: Engine, encoder: FakeEncoder, catalog: FaissCatalog
) -> None:
    before = stored(catalog)
    batch = [Document("short", "a few words"), Document("long", LONG_TEXT)]
    with pytest.raises(InvalidArgumentError, match=r"inputs\[1\]"):
        docs.upsert("docs", batch)
    assert stored(catalog) == before
    assert docs.upsert("docs", batch, truncate=True) == (1,)
    assert docs.get("docs", ["long"]) == [batch[1]]  # the stored text is the full text


# -- search -------------------------------------------------------------------------------


def test_search_by_text(docs: Engine) -> None:
    results = docs.search("docs", [TEXTS["apple"], TEXTS["auto"]], k=3)
    assert results.truncated == ()
    assert [len(row) for row in results.hits] == [3, 3]
    for row, expected in zip(results.hits, DOCS[0::3], strict=True):
        best = row[0]
        assert (best.id, best.text, best.metadata) == (
            expected.id,
            expected.text,
            expected.metadata,
        )
        assert best.score == pytest.approx(1, abs=1e-5)
        scores = [hit.score for hit in row]
        assert scores == sorted(scores, reverse=True)
        assert all(-1 - 1e-5 <= score <= 1 + 1e-5 for score in scores)


def test_search_by_vector_normalises_and_does_not_encode(
    docs: Engine, encoder: FakeEncoder
) -> None:
    vector = docs.get_embeddings("docs", ["car"])
    queries: list[Any] = [vector, vector * 3, (vector * 0.25).astype(np.float64)]
    for query in queries:
        best = docs.search("docs", query, k=2).hits[0][0]
        assert best.id == "car"
        assert best.score == pytest.approx(1, abs=1e-5)
    assert encoder.calls == []


def test_search_by_a_large_finite_vector(docs: Engine) -> None:
    """Validation accepts any finite non-zero vector, so its direction must be searched."""
    vector = docs.get_embeddings("docs", ["car"]) * np.float32(1e20)
    assert np.isfinite(vector).all()
    best = docs.search("docs", vector, k=1).hits[0][0]
    assert best.id == "car"
    assert best.score == pytest.approx(1, abs=1e-5)


def test_search_by_several_vectors(docs: Engine) -> None:
    vectors = docs.get_embeddings("docs", ["kuchen", "banana"])
    assert [row[0].id for row in docs.search("docs", vectors, k=1).hits] == ["kuchen", "banana"]


def test_k_larger_than_count_returns_every_document(docs: Engine, engine: Engine) -> None:
    assert sorted(ids(docs.search("docs", ["recipe"], k=20).hits[0])) == sorted(TEXTS)
    engine.create_collection("empty")
    assert engine.search("empty", ["recipe", "car"], k=5).hits == [[], []]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"lang": "de"}, {"auto", "kuchen"}),
        ({"lang": "en", "year": 2020}, {"apple", "car"}),
        ({"year": 2021.0}, {"banana", "kuchen"}),
        ({"fruit": True}, {"apple", "banana", "kuchen"}),
        ({"fruit": 1}, set()),
        ({"missing": None}, set()),
        ({"lang": "fr"}, set()),
        ({}, set(TEXTS)),
    ],
)
def test_filters(docs: Engine, filter: dict[str, Any], expected: set[str]) -> None:
    hits = docs.search("docs", [TEXTS["apple"]], k=20, filter=filter).hits[0]
    assert set(ids(hits)) == expected


def test_min_score(docs: Engine) -> None:
    query = [TEXTS["apple"]]
    assert ids(docs.search("docs", query, k=20, min_score=0.99).hits[0]) == ["apple"]
    assert docs.search("docs", query, k=20, min_score=1.5).hits == [[]]
    assert len(docs.search("docs", query, k=20, min_score=-1.0).hits[0]) == len(DOCS)
    some = docs.search("docs", query, k=20, min_score=0.0).hits[0]
    assert all(hit.score >= 0.0 for hit in some)


def test_min_score_applies_after_top_k_and_filter(docs: Engine) -> None:
    hits = docs.search("docs", [TEXTS["auto"]], k=1, filter={"lang": "en"}, min_score=0.99)
    assert hits.hits == [[]]


def test_search_truncates_long_queries_when_asked(docs: Engine) -> None:
    with pytest.raises(InvalidArgumentError, match=r"inputs\[1\]"):
        docs.search("docs", ["apple", LONG_TEXT], k=1)
    assert docs.search("docs", ["apple", LONG_TEXT], k=1, truncate=True).truncated == (1,)


@pytest.mark.parametrize("pooling", list(Pooling))
def test_search_uses_the_collection_pooling(
    engine: Engine, encoder: FakeEncoder, pooling: Pooling
) -> None:
    name = f"by-{pooling.value}"
    engine.create_collection(name, pooling)
    engine.upsert(name, DOCS)
    best = engine.search(name, [TEXTS["banana"]], k=1).hits[0][0]
    assert best.id == "banana"
    assert best.score == pytest.approx(1, abs=1e-5)
    assert [call.pooling for call in encoder.calls] == [pooling, pooling]
    own = encoder.encode([TEXTS["banana"]], pooling, normalize=True, truncate=False)
    np.testing.assert_allclose(engine.get_embeddings(name, ["banana"]), own.embeddings, atol=1e-6)


def test_the_fake_poolings_are_distinguishable(encoder: FakeEncoder) -> None:
    """Guards the test above: a wrong pooling would not score a text ~1 against itself."""
    vectors = [
        encoder.encode([TEXTS["banana"]], p, normalize=True, truncate=False).embeddings[0]
        for p in Pooling
    ]
    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            assert float(vectors[i] @ vectors[j]) < 0.9


# -- encode, encode_tokens, compare -----------------------------------------------------------


def test_encode_texts_and_pairs(engine: Engine, encoder: FakeEncoder) -> None:
    result = engine.encode(["red apple", ("red", "apple")], Pooling.CLS, normalize=True)
    assert result.embeddings.shape == (2, DIMENSION)
    assert result.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.embeddings, axis=1), 1, atol=1e-6)
    assert float(result.embeddings[0] @ result.embeddings[1]) < 0.99
    assert encoder.calls[-1].pooling is Pooling.CLS
    assert engine.encode(["a", LONG_TEXT], truncate=True).truncated == (1,)


def test_encode_tokens(engine: Engine) -> None:
    plain, pair = engine.encode_tokens(["hello  world", ("one", "two three")])
    assert plain.tokens == ("[CLS]", "hello", "world", "[SEP]")
    assert plain.offsets.tolist() == [[0, 0], [0, 5], [7, 12], [0, 0]]
    assert plain.special_mask.tolist() == [True, False, False, True]
    assert plain.embeddings.shape == (4, DIMENSION)
    assert pair.tokens == ("[CLS]", "one", "[SEP]", "two", "three", "[SEP]")
    assert pair.segment_ids.tolist() == [0, 0, 0, 1, 1, 1]
    assert pair.offsets.tolist() == [[0, 0], [0, 3], [0, 0], [0, 3], [4, 9], [0, 0]]
    assert not plain.truncated and not pair.truncated
    (cut,) = engine.encode_tokens([LONG_TEXT], truncate=True)
    assert cut.truncated
    assert len(cut.tokens) == MAX_WORDS + 2


def test_compare(engine: Engine, encoder: FakeEncoder) -> None:
    result = engine.compare(
        [(TEXTS["apple"], TEXTS["apple"]), (TEXTS["apple"], TEXTS["auto"])], Pooling.MEAN
    )
    scores, truncated = result.cosine, result.truncated
    assert result.maxsim is None and result.hybrid is None and result.alignments is None
    assert scores.shape == (2,)
    assert scores.dtype == np.float32
    assert scores[0] == pytest.approx(1, abs=1e-5)
    assert scores[1] < 0.99
    assert truncated == ()
    assert encoder.calls[-1].pooling is Pooling.MEAN


def test_compare_maps_truncated_texts_to_pairs(engine: Engine) -> None:
    pairs = [("a b", "a b"), ("short", LONG_TEXT), (LONG_TEXT, LONG_TEXT), ("c", "d")]
    with pytest.raises(InvalidArgumentError):
        engine.compare(pairs)
    result = engine.compare(pairs, truncate=True)
    scores, truncated = result.cosine, result.truncated
    assert truncated == (1, 2)
    assert scores[2] == pytest.approx(1, abs=1e-5)


# -- another model ------------------------------------------------------------------------


def test_a_collection_of_another_model(docs: Engine, catalog: FaissCatalog, tmp_path: Path) -> None:
    catalog.close()
    other = FakeEncoder(FINGERPRINT_B, max_length=MAX_WORDS)
    reopened = FaissCatalog(tmp_path / "data")
    try:
        engine = Engine(other, reopened, LIMITS)
        info = engine.describe_collection("docs")
        assert (info.compatible, info.count) == (False, len(DOCS))
        assert info.spec.model_fingerprint == FINGERPRINT_A
        assert [i.compatible for i in engine.list_collections()] == [False]
        _assert_unusable(engine, other)
        _assert_readable(engine, other)
        engine.drop_collection("docs")
        assert engine.list_collections() == []
        assert engine.create_collection("docs").compatible
    finally:
        reopened.close()


def _assert_unusable(engine: Engine, encoder: FakeEncoder) -> None:
    """Vectors of another model are never searched, written or returned; the message says
    how to move the documents (export, then upsert under this model)."""
    attempts: list[Callable[[], object]] = [
        lambda: engine.search("docs", ["red apple"], k=1),
        lambda: engine.search("docs", np.ones((1, DIMENSION), np.float32), k=1),
        lambda: engine.upsert("docs", [Document("new", "text")]),
        lambda: engine.upsert_stream("docs", [([Document("new", "text")], False)]),
        lambda: engine.rerank("docs", [("red apple", ["apple"])]),
        lambda: engine.get_embeddings("docs", ["apple"]),
    ]
    for attempt in attempts:
        with pytest.raises(FailedPreconditionError) as raised:
            attempt()
        assert FINGERPRINT_A in str(raised.value)
        assert FINGERPRINT_B in str(raised.value)
        assert "`simsearch export docs > docs.jsonl`" in str(raised.value)
    assert encoder.calls == []
    assert engine.describe_collection("docs").count == len(DOCS)


def _assert_readable(engine: Engine, encoder: FakeEncoder) -> None:
    """Texts and metadata of another model's collection are read back and deleted."""
    assert engine.get("docs", ["car", "apple"]) == [DOCS[2], DOCS[0]]
    exported = [doc for chunk in engine.export("docs", chunk_size=2) for doc in chunk]
    assert exported == sorted(DOCS, key=lambda doc: doc.id)
    assert engine.delete("docs", ["car", "unknown"]) == 1
    assert [doc.id for chunk in engine.export("docs", "auto") for doc in chunk] == [
        "banana", "kuchen",
    ]  # fmt: skip
    assert encoder.calls == []


# -- index kinds FAISS cannot run, collections that cannot be opened -------------------------


@pytest.mark.parametrize("index", ["HNSW1", "HNSW0", "HNSW1,Flat", "IVF4_HNSW1,Flat", "IVF0,Flat"])
def test_create_with_an_index_that_crashes_faiss_is_invalid(
    engine: Engine, catalog: FaissCatalog, index: str
) -> None:
    """FAISS builds these but crashes the server at the first upsert (SIGSEGV / SIGABRT)."""
    with pytest.raises(InvalidArgumentError, match=re.escape(repr(index))):
        engine.create_collection("bad", index=index)
    assert catalog.names() == []


def test_a_collection_that_cannot_be_opened_is_listed_unavailable_and_can_be_dropped(
    docs: Engine, catalog: FaissCatalog, encoder: FakeEncoder, tmp_path: Path
) -> None:
    docs.create_collection("good")
    docs.upsert("good", DOCS[:2])
    catalog.close()
    set_stored_index(tmp_path / "data" / "docs", "NoSuchIndex42")  # as an older version left it
    reopened = FaissCatalog(tmp_path / "data")
    try:
        engine = Engine(encoder, reopened, LIMITS)
        listed = {info.spec.name: info for info in engine.list_collections()}
        bad = listed["docs"]
        assert bad == engine.describe_collection("docs")
        assert bad.unavailable.startswith(
            "this FAISS cannot build its index: index 'NoSuchIndex42'"
        )
        assert (bad.spec.index, bad.spec.dimension, bad.count) == ("NoSuchIndex42", DIMENSION, 0)
        assert bad.compatible  # its spec could still be read: same model
        assert (listed["good"].unavailable, listed["good"].count) == ("", 2)
        encoder.calls.clear()
        for attempt in _collection_calls(engine):
            with pytest.raises(UnavailableError) as raised:
                attempt()
            assert bad.unavailable in str(raised.value)
            assert "dropping it deletes its files" in str(raised.value)
        assert encoder.calls == []
        assert ids(engine.search("good", [TEXTS["apple"]], k=1).hits[0]) == ["apple"]
        engine.drop_collection("docs")
        assert [info.spec.name for info in engine.list_collections()] == ["good"]
        assert engine.create_collection("docs").unavailable == ""
    finally:
        reopened.close()


def _collection_calls(engine: Engine) -> list[Callable[[], object]]:
    return [
        lambda: engine.search("docs", ["red apple"], k=1),
        lambda: engine.search("docs", np.ones((1, DIMENSION), np.float32), k=1),
        lambda: engine.upsert("docs", [Document("new", "text")]),
        lambda: engine.upsert_stream("docs", iter([([Document("new", "text")], False)])),
        lambda: engine.get("docs", ["apple"]),
        lambda: engine.get_embeddings("docs", ["apple"]),
        lambda: engine.delete("docs", ["apple"]),
        lambda: engine.rerank("docs", [("red apple", ["apple"])]),
    ]


# -- validation: the right class, before any encoding, nothing changed ----------------------

Operation = Callable[[Engine], object]
VECTOR = np.ones((1, DIMENSION), np.float32)


def _vector(**changes: float) -> np.ndarray:
    vector = VECTOR.copy()
    for position, value in changes.items():
        vector[0, int(position[1:])] = value
    return vector


def _doc(text: str = "fine text", doc_id: str = "new", **metadata: Any) -> Document:
    return Document(doc_id, text, metadata)


def case(operation: Operation, error: type[SimsearchError], name: str) -> Any:
    return pytest.param(operation, error, id=name)


UPSERT_CASES = [
    case(lambda e: e.upsert("docs", []), InvalidArgumentError, "upsert-empty-batch"),
    case(
        lambda e: e.upsert("docs", [_doc(doc_id=f"n{i}") for i in range(9)]),
        LimitExceededError,
        "upsert-over-max-batch",
    ),
    case(lambda e: e.upsert("docs", [_doc("")]), InvalidArgumentError, "upsert-empty-text"),
    case(lambda e: e.upsert("docs", [_doc(" \t\n ")]), InvalidArgumentError, "upsert-blank-text"),
    case(lambda e: e.upsert("docs", [_doc("x" * 201)]), LimitExceededError, "upsert-text-201"),
    case(
        lambda e: e.upsert("docs", [_doc(doc_id="d"), _doc("other", doc_id="d")]),
        InvalidArgumentError,
        "upsert-duplicate-ids",
    ),
    case(
        lambda e: e.upsert("docs", [_doc(doc_id="new"), _doc(doc_id="")]),
        InvalidArgumentError,
        "upsert-empty-id-after-a-good-one",
    ),
    case(
        lambda e: e.upsert("docs", [_doc(doc_id="x" * 513)]),
        InvalidArgumentError,
        "upsert-id-513",
    ),
    case(
        lambda e: e.upsert("docs", [_doc(score=float("nan"))]),
        InvalidArgumentError,
        "upsert-metadata-nan",
    ),
    case(
        lambda e: e.upsert("docs", [_doc(tags={"a", "b"})]),
        InvalidArgumentError,
        "upsert-metadata-not-json",
    ),
    case(lambda e: e.upsert("nope", [_doc()]), NotFoundError, "upsert-unknown-collection"),
    case(lambda e: e.upsert("../x", [_doc()]), InvalidArgumentError, "upsert-bad-name"),
]

SEARCH_CASES = [
    case(lambda e: e.search("docs", ["q"], k=0), InvalidArgumentError, "k-zero"),
    case(lambda e: e.search("docs", ["q"], k=-3), InvalidArgumentError, "k-negative"),
    case(lambda e: e.search("docs", ["q"], k=21), LimitExceededError, "k-over-max"),
    case(lambda e: e.search("docs", [], k=1), InvalidArgumentError, "search-no-texts"),
    case(lambda e: e.search("docs", ["q"] * 9, k=1), LimitExceededError, "search-9-texts"),
    case(lambda e: e.search("docs", ["  "], k=1), InvalidArgumentError, "search-blank-text"),
    case(lambda e: e.search("docs", ["x" * 201], k=1), LimitExceededError, "search-text-201"),
    case(
        lambda e: e.search("docs", _vector(d3=float("nan")), k=1),
        InvalidArgumentError,
        "vector-nan",
    ),
    case(
        lambda e: e.search("docs", _vector(d0=-float("inf")), k=1),
        InvalidArgumentError,
        "vector-inf",
    ),
    case(
        lambda e: e.search("docs", np.ones((1, DIMENSION - 1), np.float32), k=1),
        InvalidArgumentError,
        "vector-wrong-dimension",
    ),
    case(
        lambda e: e.search("docs", np.zeros((1, DIMENSION), np.float32), k=1),
        InvalidArgumentError,
        "vector-zero",
    ),
    case(
        lambda e: e.search("docs", np.ones(DIMENSION, np.float32), k=1),
        InvalidArgumentError,
        "vector-1d",
    ),
    case(
        lambda e: e.search("docs", np.ones((0, DIMENSION), np.float32), k=1),
        InvalidArgumentError,
        "vectors-empty",
    ),
    case(
        lambda e: e.search("docs", np.ones((9, DIMENSION), np.float32), k=1),
        LimitExceededError,
        "vectors-9",
    ),
    case(
        lambda e: e.search("docs", ["q"], k=1, filter={"a": {"b": 1}}),
        InvalidArgumentError,
        "filter-nested-dict",
    ),
    case(
        lambda e: e.search("docs", ["q"], k=1, filter={"a": [1, 2]}),
        InvalidArgumentError,
        "filter-list",
    ),
    case(
        lambda e: e.search("docs", ["q"], k=1, filter={"a": float("nan")}),
        InvalidArgumentError,
        "filter-nan",
    ),
    case(
        lambda e: e.search("docs", ["q"], k=1, filter={1: "a"}),  # type: ignore[dict-item]
        InvalidArgumentError,
        "filter-key-not-a-string",
    ),
    case(
        lambda e: e.search("docs", ["q"], k=1, filter={"a": {1, 2}}),
        InvalidArgumentError,
        "filter-set",
    ),
    case(
        lambda e: e.search("docs", ["q"], k=1, min_score=float("nan")),
        InvalidArgumentError,
        "min-score-nan",
    ),
    case(lambda e: e.search("nope", ["q"], k=1), NotFoundError, "search-unknown-collection"),
    case(lambda e: e.search("", ["q"], k=1), InvalidArgumentError, "search-empty-name"),
]

DOCUMENT_CASES = [
    case(lambda e: e.get("docs", []), InvalidArgumentError, "get-no-ids"),
    case(lambda e: e.get("docs", ["apple"] * 9), LimitExceededError, "get-9-ids"),
    case(lambda e: e.get("docs", ["apple", ""]), InvalidArgumentError, "get-empty-id"),
    case(lambda e: e.get("nope", ["apple"]), NotFoundError, "get-unknown-collection"),
    case(lambda e: e.get_embeddings("docs", []), InvalidArgumentError, "embeddings-no-ids"),
    case(lambda e: e.get_embeddings("nope", ["a"]), NotFoundError, "embeddings-unknown"),
    case(lambda e: e.delete("docs", []), InvalidArgumentError, "delete-no-ids"),
    case(lambda e: e.delete("docs", ["apple"] * 9), LimitExceededError, "delete-9-ids"),
    case(lambda e: e.delete("docs", ["car", ""]), InvalidArgumentError, "delete-empty-id"),
    case(lambda e: e.delete("nope", ["apple"]), NotFoundError, "delete-unknown-collection"),
]

ENCODE_CASES = [
    case(lambda e: e.encode("abc"), InvalidArgumentError, "encode-bare-string"),  # type: ignore[arg-type]
    case(lambda e: e.search("docs", "abc", k=1), InvalidArgumentError, "search-bare-string"),
    case(lambda e: e.encode([]), InvalidArgumentError, "encode-empty"),
    case(lambda e: e.encode(["a"] * 9), LimitExceededError, "encode-9"),
    case(lambda e: e.encode(["a", "\n"]), InvalidArgumentError, "encode-blank"),
    case(lambda e: e.encode(["y" * 201]), LimitExceededError, "encode-text-201"),
    case(lambda e: e.encode([("a", " ")]), InvalidArgumentError, "encode-blank-pair-b"),
    case(lambda e: e.encode([("z" * 201, "b")]), LimitExceededError, "encode-pair-a-201"),
    case(lambda e: e.encode_tokens([]), InvalidArgumentError, "tokens-empty"),
    case(lambda e: e.encode_tokens([""]), InvalidArgumentError, "tokens-blank"),
    case(lambda e: e.compare([]), InvalidArgumentError, "compare-empty"),
    case(lambda e: e.compare([("a", "b")] * 9), LimitExceededError, "compare-9"),
    case(lambda e: e.compare([("a", "")]), InvalidArgumentError, "compare-blank"),
    case(lambda e: e.compare([("a", "q" * 201)]), LimitExceededError, "compare-text-201"),
]


def _create(name: str) -> Operation:
    return lambda engine: engine.create_collection(name)


BAD_NAMES = ["", "../x", "a" * 65, ".hidden", "a/b", "-x", "x y", "abc\n", "é"]
NAME_CASES = [
    case(_create(name), InvalidArgumentError, f"create-{name!r}") for name in BAD_NAMES
] + [
    case(lambda e: e.describe_collection("../docs"), InvalidArgumentError, "describe-bad"),
    case(lambda e: e.drop_collection("a" * 65), InvalidArgumentError, "drop-bad"),
    case(lambda e: e.describe_collection("nope"), NotFoundError, "describe-unknown"),
    case(lambda e: e.drop_collection("nope"), NotFoundError, "drop-unknown"),
    case(lambda e: e.create_collection("docs"), AlreadyExistsError, "create-duplicate"),
]


@pytest.mark.parametrize(
    ("operation", "error"),
    UPSERT_CASES + SEARCH_CASES + DOCUMENT_CASES + ENCODE_CASES + NAME_CASES,
)
def test_invalid_requests_fail_before_encoding_and_change_nothing(
    docs: Engine,
    encoder: FakeEncoder,
    catalog: FaissCatalog,
    operation: Operation,
    error: type[SimsearchError],
) -> None:
    before = stored(catalog)
    with pytest.raises(SimsearchError) as raised:
        operation(docs)
    assert type(raised.value) is error, raised.value
    assert str(raised.value)
    assert encoder.calls == []
    assert stored(catalog) == before


def test_the_longest_name_is_accepted(engine: Engine) -> None:
    assert engine.create_collection("a" * 64).spec.name == "a" * 64


def test_close_stops_the_encoder_only_when_the_engine_owns_it(tmp_path: Path) -> None:
    shared, owned = FakeEncoder(), FakeEncoder()
    Engine(shared, FaissCatalog(tmp_path / "a"), LIMITS).close()
    Engine(owned, FaissCatalog(tmp_path / "b"), LIMITS, owns_encoder=True).close()
    assert [call.method for call in shared.calls] == []
    assert [call.method for call in owned.calls] == ["close"]
