"""Filter expressions: quoting, what is pushed down, the exact re-check, and injection attempts
on milvus-lite and the real server (raw Milvus queries and searches through the collection)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scaleout.milvus.helpers import make_spec, unique_name
from simsearch.index.filters import matches
from simsearch.index.milvus import MilvusCatalog
from simsearch.index.milvus.expressions import id_in, pushdown, quote_string
from simsearch.index.milvus.names import to_milvus
from simsearch.types import Document

NASTY = [
    'x" or id != "',
    'x" || true || "',
    "a\\",
    '\\"',
    '\\" or id != \\"',
    "new\nline",
    "cr\rtab\t",
    "quote\"'single",
    "é and 😀",
    "\x01\x7f",
    "]",
    '["a"]',
    "",
    " ",
    "1",
    "true",
    "null",
]


def test_quoting_escapes_what_ends_or_changes_a_literal() -> None:
    assert quote_string('x" or id != "') == '"x\\" or id != \\""'
    assert quote_string("a\\") == '"a\\\\"'
    assert quote_string("a\nb\tc\rd") == '"a\\nb\\tc\\rd"'
    assert quote_string("é") == '"é"'
    assert quote_string("\ud800") is None  # a lone surrogate is not UTF-8
    assert quote_string("a\0") is None


@given(st.text())
def test_a_quoted_string_never_ends_early(text: str) -> None:
    literal = quote_string(text)
    if literal is None:
        return
    inner = literal[1:-1]
    # every quote or backslash inside is escaped: removing escape pairs leaves no quote
    unescaped = inner.replace("\\\\", "").replace('\\"', "")
    assert '"' not in unescaped
    assert "\n" not in inner and "\r" not in inner


def test_pushdown_keeps_only_conditions_milvus_evaluates_safely() -> None:
    assert pushdown({"lang": "en", "year": 2020}) == (
        'metadata["lang"] == "en" and metadata["year"] == 2020'
    )
    assert pushdown({"ok": True, "x": 1.5}) == 'metadata["ok"] == true and metadata["x"] == 1.5'
    # not pushed: null, odd keys, integers beyond int64
    for filter in [
        {"k": None},
        {'k"': "v"},
        {"k\\": "v"},
        {"": "v"},
        {"é": "v"},
        {"k\n": "v"},
        {"k": 2**70},
    ]:
        assert pushdown(filter) == ""


def test_ids_are_quoted_too() -> None:
    assert id_in("id", ["a", 'b"']) == 'id in ["a", "b\\""]'
    assert id_in("id", ["\ud800"]) is None


@pytest.mark.parametrize(
    ("metadata", "filter", "expected"),
    [
        ({"k": 1}, {"k": 1.0}, True),
        ({"k": 1.0}, {"k": 1}, True),
        ({"k": True}, {"k": 1}, False),
        ({"k": 1}, {"k": True}, False),
        ({"k": 0}, {"k": False}, False),
        ({"k": None}, {"k": None}, True),
        ({}, {"k": None}, False),
        ({"k": "1"}, {"k": 1}, False),
        ({"k": [1]}, {"k": 1}, False),
        ({"k": {"a": 1}}, {"k.a": 1}, False),
        ({"k": 2**70}, {"k": float(2**70)}, True),
        ({"a": 1, "b": "x"}, {"a": 1, "b": "x"}, True),
        ({"a": 1, "b": "x"}, {"a": 1, "b": "y"}, False),
        ({"a": 1}, {}, True),
    ],
)
def test_recheck_uses_simsearchs_equality(
    metadata: dict[str, Any], filter: dict[str, Any], expected: bool
) -> None:
    assert matches(metadata, filter) is expected


# -- on Milvus ------------------------------------------------------------------------------

KEYS = ['q"k', "b\\s", "[x]", "a]b", "a/b", "", "é"]


def _documents() -> list[Document]:
    docs = [Document(f"v{i}", "text", {"k": value}) for i, value in enumerate(NASTY)]
    docs += [Document(f"key{i}", "text", {key: "v"}) for i, key in enumerate(KEYS)]
    docs += [
        Document("int", "text", {"k": 1}),
        Document("float", "text", {"k": 1.0}),
        Document("true", "text", {"k": True}),
        Document("null", "text", {"k": None}),
        Document("none", "text", {}),
    ]
    return docs


def _loaded(catalog: MilvusCatalog) -> tuple[Any, list[Document]]:
    collection = catalog.create(make_spec(unique_name("expr")))
    docs = _documents()
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(len(docs), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    collection.upsert(docs, vectors)
    return collection, docs


def _expected(docs: list[Document], filter: dict[str, Any]) -> set[str]:
    return {doc.id for doc in docs if matches(doc.metadata, filter)}


def test_injection_cannot_widen_results(catalog: MilvusCatalog) -> None:
    collection, docs = _loaded(catalog)
    query = np.ones((1, 8), np.float32) / np.sqrt(8)
    filters: list[dict[str, Any]] = [{"k": value} for value in NASTY]
    filters += [{key: "v"} for key in KEYS]
    filters += [{"k": 1}, {"k": True}, {"k": None}, {"k": 1.0}, {'k"] == "v" or metadata["k': 1}]
    wrong = {}
    for filter in filters:
        got = {hit.id for hit in collection.search(query, len(docs), filter)[0]}
        if got != _expected(docs, filter):
            wrong[repr(filter)] = sorted(got)
    assert not wrong


def test_pushed_down_values_match_exactly_in_milvus_itself(catalog: MilvusCatalog) -> None:
    """The raw expressions: a quoted value selects exactly the documents holding it (an
    injection would select more), on the server and on milvus-lite."""
    collection, _ = _loaded(catalog)
    client = catalog._client  # the raw Milvus view, without simsearch's re-check
    name = to_milvus(collection.spec.name)
    wrong = {}
    for i, value in enumerate(NASTY):
        expression = pushdown({"k": value})
        rows = client.query(
            name, filter=expression, output_fields=["id"], consistency_level="Strong"
        )
        if {row["id"] for row in rows} != {f"v{i}"}:
            wrong[repr(value)] = sorted(row["id"] for row in rows)
    assert not wrong


def test_ids_round_trip_through_quoting(catalog: MilvusCatalog) -> None:
    collection = catalog.create(make_spec(unique_name("ids")))
    ids = [value or "empty" for value in NASTY] + ['"', "\\", 'id != "" or "" == "']
    vectors = np.eye(8, dtype=np.float32)[np.arange(len(ids)) % 8]
    collection.upsert([Document(doc_id, "t") for doc_id in ids], vectors)
    assert [doc.id if doc else None for doc in collection.get(ids)] == ids
    assert collection.get(["x", 'x" or id != "y']) == [None, None]
    assert collection.delete(['" or id != "']) == 0
    assert collection.count() == len(ids)
