"""The contract of a collection's documents: upsert, delete, get, stored vectors, metadata,
and the limits a store checks before writing."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from simsearch.engine.ports import Collection
from simsearch.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    LimitExceededError,
    NotFoundError,
)
from simsearch.types import Document

from .data import DIMENSION, documents, ids_of, unit_vectors
from .stores import Store


@pytest.fixture
def collection(empty_collection: Collection) -> Collection:
    return empty_collection


def test_upsert_inserts_and_replaces_by_id(collection: Collection) -> None:
    first = unit_vectors(3, seed=1)
    collection.upsert(documents(["a", "b", "c"], {"v": 1}), first)
    assert collection.count() == 3

    second = unit_vectors(2, seed=2)
    collection.upsert([Document("b", "new text", {"v": 2}), Document("d", "d")], second)
    assert collection.count() == 4
    assert collection.get(["b"]) == [Document("b", "new text", {"v": 2})]
    np.testing.assert_allclose(collection.get_embeddings(["b"]), second[:1], atol=1e-6)
    (hits,) = collection.search(first[1:2], 4)
    assert [h.score for h in hits if h.id == "b"] == pytest.approx([float(first[1] @ second[0])])
    # b's old metadata went with its old row
    assert sorted(ids_of(collection.search(first[1:2], 4, {"v": 1})[0])) == ["a", "c"]
    assert ids_of(collection.search(second[:1], 4, {"v": 2})[0]) == ["b"]


def test_an_empty_upsert_changes_nothing(collection: Collection) -> None:
    collection.upsert(documents(["a"]), unit_vectors(1, seed=1))
    collection.upsert([], np.zeros((0, DIMENSION), np.float32))
    assert collection.count() == 1


def test_delete_returns_how_many_existed(collection: Collection) -> None:
    collection.upsert(documents(["a", "b", "c"]), unit_vectors(3, seed=1))
    assert collection.delete(["a", "unknown", "a"]) == 1
    assert collection.delete(["unknown"]) == 0
    assert collection.delete([]) == 0
    assert collection.count() == 2
    assert collection.get(["a", "b"])[0] is None
    assert "a" not in ids_of(collection.search(unit_vectors(1, seed=9), 3)[0])
    assert "a" not in ids_of(collection.search(unit_vectors(1, seed=9), 3, {})[0])
    collection.upsert(documents(["a"]), unit_vectors(1, seed=4))  # back, as a new document
    assert collection.get(["a"]) == documents(["a"]) and collection.delete(["a"]) == 1
    assert collection.delete(["b", "c"]) == 2 and collection.count() == 0


def test_get_answers_in_the_order_asked(collection: Collection) -> None:
    collection.upsert(documents(["a", "b", "c"]), unit_vectors(3, seed=1))
    found = collection.get(["c", "unknown", "a", "c"])
    assert [doc.id if doc else None for doc in found] == ["c", None, "a", "c"]
    assert found[0] == Document("c", "text of c", {})
    assert collection.get([]) == []


AWKWARD_IDS = [
    'q"uote',
    "it's",
    "back\\slash",
    '\\"',
    'x" or id != "',
    "x' or id != '",
    '", "a',
    "🙂 ünï",
    " space ",
    "[1]",
    "a",
]


def test_ids_are_data_never_syntax(collection: Collection) -> None:
    """Ids with quotes, backslashes and expression fragments are stored, got, read and
    deleted exactly: an id never selects another document."""
    vectors = unit_vectors(len(AWKWARD_IDS), seed=1)
    collection.upsert(documents(AWKWARD_IDS), vectors)
    assert collection.count() == len(AWKWARD_IDS)
    assert collection.get(AWKWARD_IDS[::-1]) == documents(AWKWARD_IDS[::-1])
    np.testing.assert_allclose(collection.get_embeddings(AWKWARD_IDS), vectors, atol=1e-6)
    assert collection.get(['x" or id != "x', "x' or id != 'x", "A"]) == [None, None, None]
    assert collection.delete(['x" or id != "', "x' or id != '", '", "a']) == 3
    kept = [i for i in AWKWARD_IDS if i not in {'x" or id != "', "x' or id != '", '", "a'}]
    assert collection.count() == len(kept)
    assert collection.get(kept) == documents(kept)


def test_get_embeddings_in_order_and_not_found_for_unknown_ids(collection: Collection) -> None:
    vectors = unit_vectors(3, seed=1)
    collection.upsert(documents(["a", "b", "c"]), vectors)
    got = collection.get_embeddings(["c", "a", "c"])
    assert got.dtype == np.float32 and got.shape == (3, DIMENSION)
    np.testing.assert_allclose(got, vectors[[2, 0, 2]], atol=1e-6)
    assert collection.get_embeddings([]).shape == (0, DIMENSION)
    with pytest.raises(NotFoundError, match="nope"):
        collection.get_embeddings(["a", "nope"])


TEXTS = [
    "plain",
    "ünïcödé 中文 العربية 🙂👍🏽",
    'quotes " and \' and \\ backslash \\" and \n newline \t tab',
    "x" * 1000,
]


def test_texts_round_trip(collection: Collection) -> None:
    docs = [Document(f"t{i}", text) for i, text in enumerate(TEXTS)]
    collection.upsert(docs, unit_vectors(len(docs), seed=1))
    assert collection.get([doc.id for doc in docs]) == docs


METADATA: list[dict[str, Any]] = [
    {},
    {"s": "x", "i": 1, "f": 0.5, "t": True, "false": False, "n": None},
    {"zero": 0, "negative": -7, "float_one": 1.0, "tiny": 1e-300, "huge": 1e300, "pi": math.pi},
    {"nested": {"a": {"b": [1, "x", None, {"c": False}]}}, "list": [1, 2.5, "three"]},
    {"": "empty key", "a.b": 1, "$": 2, 'q"uote': "v'al", "back\\slash": "\\", "语言": "中文"},
    {"emoji 🙂": "👍🏽", "newline": "a\nb", "empty": "", "empty_list": [], "empty_map": {}},
    {"id": "not the id", "text": "not the text", "metadata": {"x": 1}, "$meta": 1, "vector": []},
]


def test_metadata_round_trips_with_its_types(collection: Collection) -> None:
    ids = [f"m{i}" for i in range(len(METADATA))]
    docs = [
        Document(doc_id, doc_id, metadata) for doc_id, metadata in zip(ids, METADATA, strict=True)
    ]
    collection.upsert(docs, unit_vectors(len(docs), seed=1))
    stored = collection.get(ids)
    assert [typed(doc.metadata) if doc else None for doc in stored] == typed(METADATA)
    hits = collection.search(unit_vectors(len(docs), seed=1), 1)
    assert [typed(row[0].metadata) for row in hits] == typed(METADATA)


def test_integers_beyond_doubles_round_trip_exactly(collection: Collection) -> None:
    metadata = {"2^53+1": 2**53 + 1, "int64-max": 2**63 - 1, "int64-min": -(2**63)}
    collection.upsert([Document("a", "a", metadata)], unit_vectors(1, seed=1))
    (stored,) = collection.get(["a"])
    assert stored is not None and typed(stored.metadata) == typed(metadata)


def typed(value: Any) -> Any:
    """``value`` with each scalar paired with its type: ``1 == 1.0 == True`` in Python, but a
    store must give back the JSON type it was given."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


BAD_UPSERTS = {
    "fewer embeddings": (documents(["a", "b"]), unit_vectors(1, seed=1)),
    "wrong dimension": (documents(["a"]), unit_vectors(1, seed=1, dimension=DIMENSION + 1)),
    "nan": (documents(["a"]), np.full((1, DIMENSION), np.nan, np.float32)),
    "repeated id": (documents(["a", "a"]), unit_vectors(2, seed=1)),
    "not json": ([Document("a", "a", {"x": {1, 2}})], unit_vectors(1, seed=1)),
}


def test_bad_upserts_are_invalid_and_write_nothing(collection: Collection) -> None:
    collection.upsert(documents(["kept"]), unit_vectors(1, seed=3))
    accepted = []
    for case, (docs, vectors) in BAD_UPSERTS.items():
        try:
            collection.upsert(docs, vectors)
        except InvalidArgumentError:
            pass
        else:
            accepted.append(case)
        assert collection.count() == 1 and collection.get(["a"]) == [None], case
    assert not accepted, f"accepted: {accepted}"


def test_ids_of_512_characters_are_stored(collection: Collection) -> None:
    """512 characters is the engine's longest id: up to 2,048 UTF-8 bytes."""
    ids = [char * 511 + "z" for char in ("x", "界", "🙂")]
    vectors = unit_vectors(4, seed=1)
    collection.upsert(documents([*ids, "short"]), vectors)
    assert collection.get(ids) == documents(ids)
    assert [row[0].id for row in collection.search(vectors[:3], 1)] == ids
    np.testing.assert_allclose(collection.get_embeddings(ids), vectors[:3], atol=1e-6)
    assert collection.delete(ids) == 3 and collection.count() == 1


def test_texts_under_64k_bytes_are_stored(collection: Collection) -> None:
    text = "x" * 60_000 + "é" * 2_000  # 64,000 UTF-8 bytes
    collection.upsert([Document("long", text)], unit_vectors(1, seed=1))
    assert collection.get(["long"])[0] == Document("long", text)


LARGE = {
    "text of 100,000 chars": (Document("large", "x" * 100_000), "text"),
    "text of 70,000 bytes": (Document("large", "é" * 35_000), "text"),
    "metadata of 100 kB": (Document("large", "t", {"blob": "m" * 100_000}), "metadata"),
    "metadata of 20,000 keys": (
        Document("large", "t", {f"k{i}": i for i in range(20_000)}),
        "metadata",
    ),
}


def test_a_document_over_a_store_limit_is_refused_whole_before_writing(
    store: Store, collection: Collection
) -> None:
    """The engine allows texts of 100,000 characters (``Limits.max_text_chars``) and any
    JSON metadata; FAISS stores them. Milvus (VARCHAR 65,535 bytes, JSON 65,536 bytes) refuses
    such a document with INVALID_ARGUMENT or RESOURCE_EXHAUSTED naming what is too large,
    before writing anything of the batch: no document of it is stored, no replaced document
    lost (a documented difference)."""
    old = Document("old", "old", {"v": 1})
    collection.upsert([old], unit_vectors(1, seed=1))
    wrong = {}
    for case, (large, field) in LARGE.items():
        batch = [Document("old", "replacement", {"v": 2}), Document("new", "new"), large]
        try:
            collection.upsert(batch, unit_vectors(3, seed=2))
        except (InvalidArgumentError, LimitExceededError) as exc:
            if not store.milvus or field not in str(exc):
                wrong[case] = f"refused: {exc}"
            elif collection.get(["old", "new", "large"]) != [old, None, None]:
                wrong[case] = "refused, but part of the batch was written"
            continue
        if store.milvus:
            wrong[case] = "accepted: over Milvus' limits"
        elif collection.get(["large", "old"]) != [large, batch[0]]:
            wrong[case] = "accepted, but not stored as given"
        collection.delete(["new", "large"])
        collection.upsert([old], unit_vectors(1, seed=1))
    assert not wrong, wrong


def test_token_vectors_of_a_collection_without_them_fail_precondition(
    collection: Collection,
) -> None:
    collection.upsert(documents(["a"]), unit_vectors(1, seed=1))
    with pytest.raises(FailedPreconditionError):
        collection.get_token_vectors(["a"])
