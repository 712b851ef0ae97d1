"""Metadata equality filters: which documents match, compared by type as JSON would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from simsearch.errors import InvalidArgumentError
from simsearch.index import FaissCatalog, FaissCollection
from simsearch.types import Document
from unit.index_fixtures import spec, unit_vectors

DOCS: dict[str, dict[str, Any]] = {
    "int-1": {"n": 1},
    "float-1": {"n": 1.0},
    "float-1.5": {"n": 1.5},
    "true": {"n": True, "b": True},
    "false": {"b": False},
    "zero": {"b": 0},
    "string-1": {"n": "1"},
    "null": {"z": None},
    "list": {"n": [1]},
    "dict": {"n": {"v": 1}},
    "nested-a.b": {"a": {"b": 1}},
    "dotted-a.b": {"a.b": 1},
    "quotes": {'we"ird': "x", "it's": "y", "$": "dollar", "$.n": 2},
    "unicode": {"语言": "中文", "emoji": "🙂"},
    "big": {"big": 2**53 + 1},
    "multi": {"n": 1, "s": "x", "b": True},
    "empty": {},
    "wide": {f"w{i}": i for i in range(1200)},
}


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaissCollection]:
    catalog = FaissCatalog(tmp_path_factory.mktemp("filters"))
    collection = catalog.create(spec("filters"))
    documents = [Document(doc_id, doc_id, metadata) for doc_id, metadata in DOCS.items()]
    collection.upsert(documents, unit_vectors(len(documents), seed=0))
    yield collection
    catalog.close()


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"n": 1}, {"int-1", "float-1", "multi"}),
        ({"n": 1.0}, {"int-1", "float-1", "multi"}),
        ({"n": 1.5}, {"float-1.5"}),
        ({"n": "1"}, {"string-1"}),
        ({"n": True}, {"true"}),
        ({"b": True}, {"true", "multi"}),
        ({"b": False}, {"false"}),
        ({"b": 0}, {"zero"}),
        ({"z": None}, {"null"}),
        ({"a.b": 1}, {"dotted-a.b"}),
        ({'we"ird': "x", "it's": "y"}, {"quotes"}),
        ({"$": "dollar"}, {"quotes"}),
        ({"$.n": 2}, {"quotes"}),
        ({"语言": "中文"}, {"unicode"}),
        ({"emoji": "🙂"}, {"unicode"}),
        ({"big": 2**53 + 1}, {"big"}),
        ({"big": 2**53}, set()),
        ({"n": 1, "s": "x", "b": True}, {"multi"}),
        ({"n": 1, "s": "y"}, set()),
        ({"missing": None}, set()),
        ({"n": 1e300}, set()),
        ({}, set(DOCS)),
    ],
)
def test_filter_matches(
    collection: FaissCollection, filter: dict[str, Any], expected: set[str]
) -> None:
    (hits,) = collection.search(unit_vectors(1, seed=1), len(DOCS), filter)
    assert {hit.id for hit in hits} == expected
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


@pytest.mark.parametrize(
    "filter",
    [{"n": [1]}, {"n": {"v": 1}}, {"n": (1,)}, {1: 1}, {"n": float("nan")}, {"n": b"1"}],
)
def test_non_scalar_filters_are_invalid(collection: FaissCollection, filter: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        collection.search(unit_vectors(1, seed=1), 3, filter)


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({f"w{i}": i for i in range(1200)}, {"wide"}),
        ({**{f"w{i}": i for i in range(1199)}, "w1199": 0}, set()),
        ({f"absent{i}": i for i in range(5000)}, set()),
    ],
)
def test_filters_of_many_keys_fit_sqlite(
    collection: FaissCollection, filter: dict[str, Any], expected: set[str]
) -> None:
    """A flat chain of 991+ ANDs is "Expression tree is too large" for SQLite; the clauses
    are a balanced tree (the engine caps keys at max_filter_keys before this)."""
    (hits,) = collection.search(unit_vectors(1, seed=1), len(DOCS), filter)
    assert {hit.id for hit in hits} == expected


@pytest.mark.parametrize("filter", [{"n": "1\0"}, {"n\0": 1}, {"\0": None}, {"s": "x\0y"}])
def test_nul_in_a_filter_is_invalid(collection: FaissCollection, filter: Any) -> None:
    """SQLite's json_each cuts strings at NUL: such a filter would match by a prefix."""
    with pytest.raises(InvalidArgumentError, match="U\\+0000"):
        collection.search(unit_vectors(1, seed=1), 3, filter)
