"""The search contract: exact top-k by inner product, metadata filters with simsearch's
equality rules, deterministic ties, and bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simsearch.engine.ports import Collection
from simsearch.errors import InvalidArgumentError
from simsearch.types import Document, SearchParams

from .data import (
    DIMENSION,
    assert_hits,
    axis,
    documents,
    exact_top_k,
    ids_of,
    towards,
    unit_vectors,
)


@pytest.fixture
def collection(empty_collection: Collection) -> Collection:
    return empty_collection


def test_top_k_by_inner_product_exactly_on_flat(collection: Collection) -> None:
    ids = [f"d{i}" for i in range(50)]
    vectors = unit_vectors(50, seed=1)
    collection.upsert(documents(ids), vectors)
    queries = unit_vectors(4, seed=2)
    hits = collection.search(queries, 7)
    assert_hits(hits, exact_top_k(queries, ids, vectors, 7))
    for row in hits:
        assert [h.score for h in row] == sorted((h.score for h in row), reverse=True)


def test_fewer_hits_than_k_when_fewer_documents(collection: Collection) -> None:
    assert collection.search(unit_vectors(2, seed=1), 5) == [[], []]
    vectors = unit_vectors(3, seed=1)
    collection.upsert(documents(["a", "b", "c"]), vectors)
    queries = unit_vectors(2, seed=2)
    hits = collection.search(queries, 1000)
    assert_hits(hits, exact_top_k(queries, ["a", "b", "c"], vectors, 3))


def test_hits_carry_text_and_metadata(collection: Collection) -> None:
    collection.upsert([Document("a", "the text", {"k": "v", "n": 1})], unit_vectors(1, seed=1))
    (hit,) = collection.search(unit_vectors(1, seed=1), 1)[0]
    assert (hit.id, hit.text, hit.metadata) == ("a", "the text", {"k": "v", "n": 1})
    assert hit.score == pytest.approx(1.0, abs=1e-5)


def test_search_parameters_of_other_kinds_are_ignored_on_flat(collection: Collection) -> None:
    collection.upsert(documents(["a", "b"]), unit_vectors(2, seed=1))
    hits = collection.search(unit_vectors(1, seed=1), 2, params=SearchParams(64, 8))
    assert ids_of(hits[0])[0] == "a"


BAD_SEARCHES: dict[str, tuple[Any, int, Any, Any]] = {
    "k = 0": (unit_vectors(1, seed=1), 0, None, None),
    "query of the wrong dimension": (unit_vectors(1, seed=1, dimension=3), 1, None, None),
    "nan query": (np.full((1, DIMENSION), np.nan, np.float32), 1, None, None),
    "list in a filter": (unit_vectors(1, seed=1), 1, {"n": [1]}, None),
    "map in a filter": (unit_vectors(1, seed=1), 1, {"n": {"v": 1}}, None),
    "nan in a filter": (unit_vectors(1, seed=1), 1, {"n": float("nan")}, None),
    "non-string filter key": (unit_vectors(1, seed=1), 1, {1: 1}, None),
    "ef_search = 0": (unit_vectors(1, seed=1), 1, None, SearchParams(ef_search=0)),
}


def test_bad_searches_are_invalid(collection: Collection) -> None:
    collection.upsert(documents(["a"]), unit_vectors(1, seed=1))
    wrong = {}
    for case, (queries, k, filter, params) in BAD_SEARCHES.items():
        try:
            collection.search(queries, k, filter, params)
            wrong[case] = "no error"
        except InvalidArgumentError:
            pass
        except Exception as exc:
            wrong[case] = repr(exc)
    assert not wrong, wrong


# -- filters -----------------------------------------------------------------------------------

TYPED: dict[str, dict[str, Any]] = {
    "int-1": {"n": 1},
    "float-1": {"n": 1.0},
    "float-1.5": {"n": 1.5},
    "true": {"n": True, "b": True},
    "false": {"b": False},
    "zero": {"b": 0},
    "one": {"b": 1},
    "string-1": {"n": "1"},
    "string-true": {"b": "true"},
    "null": {"z": None},
    "string-null": {"z": "null"},
    "list": {"n": [1]},
    "dict": {"n": {"v": 1}},
    "nested-a.b": {"a": {"b": 1}},
    "dotted-a.b": {"a.b": 1},
    "big": {"big": 2**53 + 1},
    "negative": {"n": -3, "s": ""},
    "multi": {"n": 1, "s": "x", "b": True},
    "empty": {},
}

TYPED_FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({"n": 1}, {"int-1", "float-1", "multi"}),
    ({"n": 1.0}, {"int-1", "float-1", "multi"}),
    ({"n": 1.5}, {"float-1.5"}),
    ({"n": -3}, {"negative"}),
    ({"n": "1"}, {"string-1"}),
    ({"n": True}, {"true"}),
    ({"b": True}, {"true", "multi"}),
    ({"b": False}, {"false"}),
    ({"b": 0}, {"zero"}),
    ({"b": 1}, {"one"}),
    ({"b": "true"}, {"string-true"}),
    ({"z": None}, {"null"}),
    ({"z": "null"}, {"string-null"}),
    ({"missing": None}, set()),
    ({"s": ""}, {"negative"}),
    ({"a.b": 1}, {"dotted-a.b"}),
    ({"a": 1}, set()),
    ({"big": 2**53 + 1}, {"big"}),
    ({"big": 2**53}, set()),
    ({"n": 1e300}, set()),
    ({"n": 1, "s": "x", "b": True}, {"multi"}),
    ({"n": 1, "s": "y"}, set()),
    ({"n": 1, "b": 1}, set()),
    ({}, set(TYPED)),
]


def test_filters_compare_scalars_by_json_type(collection: Collection) -> None:
    """Strings by value, numbers as numbers (1 == 1.0), booleans only booleans (True is not
    1, False is not 0), None only null (a missing key is not null); keys are ANDed; keys are
    top-level names (no paths: "a.b" is a key with a dot)."""
    assert_filters(collection, TYPED, TYPED_FILTERS)


QUOTED = ['we"ird', "it's", "back\\slash", '\\"', "$", "$.n", "语言", "🙂", "a b", "[0]"]
AWKWARD: dict[str, dict[str, Any]] = {
    **{f"key{i}": {key: "v"} for i, key in enumerate(QUOTED)},
    **{f"value{i}": {"k": value} for i, value in enumerate(QUOTED)},
    "injection-target": {"k": "secret", "role": "admin"},
    "newline": {"k": "a\nb"},
    "long": {"k": "x" * 5000},
    "reserved": {"id": "i", "text": "t", "metadata": "m", "$meta": "dyn"},
}
INJECTIONS = [
    'x" || metadata["role"] == "admin',
    "x' || metadata['role'] == 'admin",
    'x\\" or 1==1 or \\"',
    'x" or metadata["k"] != "',
]
AWKWARD_FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    *(({key: "v"}, {f"key{i}"}) for i, key in enumerate(QUOTED)),
    *(({"k": value}, {f"value{i}"}) for i, value in enumerate(QUOTED)),
    *(({"k": value}, set()) for value in INJECTIONS),
    *(({key: "admin"}, set()) for key in INJECTIONS),
    ({"k": "a\nb"}, {"newline"}),
    ({"k": "x" * 5000}, {"long"}),
    ({"k": "x" * 4999}, set()),
    ({"role": "admin"}, {"injection-target"}),
    ({"id": "i"}, {"reserved"}),
    ({"text": "t", "metadata": "m", "$meta": "dyn"}, {"reserved"}),
    ({"id": "reserved"}, set()),
]


def test_filters_with_quotes_backslashes_and_unicode_match_exactly(
    collection: Collection,
) -> None:
    """Keys and values are data, never syntax: quotes, backslashes and expression fragments
    match only themselves."""
    assert_filters(collection, AWKWARD, AWKWARD_FILTERS)


def assert_filters(
    collection: Collection,
    docs: dict[str, dict[str, Any]],
    cases: list[tuple[dict[str, Any], set[str]]],
) -> None:
    """Store ``docs`` (id -> metadata), then search each filter with k = all and compare the
    ids; all mismatches are reported together."""
    collection.upsert(
        [Document(doc_id, doc_id, metadata) for doc_id, metadata in docs.items()],
        unit_vectors(len(docs), seed=0),
    )
    query = unit_vectors(1, seed=1)
    wrong = {}
    for filter, expected in cases:
        (hits,) = collection.search(query, len(docs), filter)
        if {hit.id for hit in hits} != expected:
            wrong[repr(filter)] = sorted(hit.id for hit in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert not wrong, f"filters with wrong hits (filter: got): {wrong}"


DECOYS: list[tuple[str, Any, Any]] = [
    ("int, decoys true", 1, True),
    ("true, decoys 1", True, 1),
    ("false, decoys 0", False, 0),
    ("float, decoys true", 1.0, True),
    ("null, decoys without the key", None, "absent"),
    ("string, decoys other strings", "yes", "no"),
    ("1, decoys '1'", 1, "1"),
]


def test_k_matches_come_back_when_the_nearest_candidates_fail_the_filter(
    collection: Collection,
) -> None:
    """Per case (a key of its own, a query axis of its own): the 40 documents nearest to the
    query are decoys, equal to the wanted value in some lax sense, and the 5 matches are the
    farthest. A filtered search still returns exactly those 5, best first, for any k."""
    docs, vectors = [], []
    for case, (_, wanted, decoy) in enumerate(DECOYS):
        query = axis(case)
        decoy_metadata = {} if decoy == "absent" else {f"k{case}": decoy}
        docs += [Document(f"{case}.decoy{i}", "d", decoy_metadata) for i in range(40)]
        docs += [Document(f"{case}.match{i}", "m", {f"k{case}": wanted}) for i in range(5)]
        vectors += [
            towards(query, np.linspace(0.99, 0.5, 40).tolist(), seed=case),
            towards(query, [0.3, 0.2, 0.1, 0.0, -0.1], seed=100 + case),
        ]
    collection.upsert(docs, np.concatenate(vectors))
    wrong = {}
    for case, (name, wanted, _) in enumerate(DECOYS):
        matches = [f"{case}.match{i}" for i in range(5)]
        for k in (3, 5, 20):
            (hits,) = collection.search(axis(case), k, {f"k{case}": wanted})
            if ids_of(hits) != matches[:k]:
                wrong[f"{name}, k={k}"] = ids_of(hits)
    assert not wrong, wrong


def test_filtered_search_of_several_queries(collection: Collection) -> None:
    ids = [f"d{i}" for i in range(30)]
    vectors = unit_vectors(30, seed=1)
    collection.upsert(
        [Document(doc_id, doc_id, {"g": i % 3}) for i, doc_id in enumerate(ids)], vectors
    )
    queries = unit_vectors(3, seed=2)
    keep = [i for i in range(30) if i % 3 == 1]
    hits = collection.search(queries, 4, {"g": 1})
    assert_hits(hits, exact_top_k(queries, [ids[i] for i in keep], vectors[keep], 4))


# -- ties ----------------------------------------------------------------------------------------


def test_ties_come_back_in_write_order(collection: Collection) -> None:
    """Documents with the same score come back oldest write first, the same at every search,
    whatever k (a shorter top-k is a prefix of a longer one) and with or without a filter
    they all match; a replaced document is a new write. Every store answers the same."""
    ids = ["z", "a", "m", "b", "y", "c"]
    collection.upsert(documents(ids, {"g": 1}), np.repeat(axis(1), 6, axis=0))
    collection.upsert(documents(["far"], {"g": 1}), axis(2))
    query = axis(1)
    assert ids_of(collection.search(query, 7)[0]) == [*ids, "far"]
    for k in (1, 2, 4, 6):
        assert ids_of(collection.search(query, k)[0]) == ids[:k]
        assert ids_of(collection.search(query, k, {"g": 1})[0]) == ids[:k]
    collection.upsert(documents(["a"], {"g": 1}), axis(1))
    order = ["z", "m", "b", "y", "c", "a"]
    for _ in range(2):
        assert ids_of(collection.search(query, 6)[0]) == order
        assert ids_of(collection.search(query, 6, {"g": 1})[0]) == order
