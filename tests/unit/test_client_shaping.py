"""Client-side argument shaping: pooling names, documents from mappings, batches, query
vectors, pairs and MaxSim options; and what ``Client.info`` makes of the server's answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from simsearch.client import Client
from simsearch.client.shaping import (
    as_batch,
    document_batches,
    document_from_mapping,
    maxsim_options,
    parse_pooling,
    query_vectors,
    text_pairs,
)
from simsearch.errors import InvalidArgumentError
from simsearch.types import Document, MaxSimDirection, MaxSimOptions, Pooling, TokenSelection
from simsearch.v1 import simsearch_pb2 as pb
from unit.client_fakes import FakeSimSearch, running


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("pooler", Pooling.POOLER),
        ("cls", Pooling.CLS),
        ("mean", Pooling.MEAN),
        (" MEAN ", Pooling.MEAN),
        (Pooling.CLS, Pooling.CLS),
    ],
)
def test_pooling_names(value: Any, expected: Pooling) -> None:
    assert parse_pooling(value) is expected


def test_unknown_pooling_is_rejected_locally_with_the_choices() -> None:
    with pytest.raises(InvalidArgumentError, match=r"'max'.*'pooler', 'cls', 'mean'"):
        parse_pooling("max")


def test_maxsim_options_from_names_or_defaults() -> None:
    assert maxsim_options(None, None, None) == MaxSimOptions()
    assert maxsim_options("document_to_query", TokenSelection.WORDS, 0.5) == MaxSimOptions(
        MaxSimDirection.DOCUMENT_TO_QUERY, TokenSelection.WORDS, 0.5
    )
    with pytest.raises(InvalidArgumentError, match="directions are symmetric"):
        maxsim_options("sideways", None, None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"text": "t"}, "missing 'id'"),
        ({"id": "x"}, "missing 'text'"),
        ({"id": 7, "text": "t"}, "'id' must be a string, got a number"),
        ({"id": "x", "text": None}, "'text' must be a string, got null"),
        ({"id": "x", "text": "t", "metadata": [1]}, "'metadata' must be an object, got an array"),
        ({"id": "x", "text": "t", "meta": {}}, r"unknown keys \['meta'\]"),
        ("just a string", "expected a document or a mapping, got str"),
    ],
)
def test_bad_documents_say_what_is_wrong(value: Any, reason: str) -> None:
    with pytest.raises(InvalidArgumentError, match=reason):
        document_from_mapping(value)


def test_mappings_become_documents_and_documents_pass_through() -> None:
    document = Document("a", "b", {"k": 1})
    assert document_from_mapping(document) is document
    assert document_from_mapping({"id": "a", "text": "b"}) == Document("a", "b", {})
    assert document_from_mapping({"id": "a", "text": "b", "metadata": None}).metadata == {}


def test_documents_are_batched_lazily_and_bad_items_named_by_index() -> None:
    items = ({"id": str(i), "text": "t"} for i in range(7))
    assert [len(b) for b in document_batches(items, 3)] == [3, 3, 1]
    bad: list[Any] = [{"id": "0", "text": "t"}] * 4 + [{"id": "4"}]
    batches = document_batches(bad, 2)
    assert len(next(batches)) == 2
    assert len(next(batches)) == 2
    with pytest.raises(InvalidArgumentError, match=r"documents\[4\]: missing 'text'"):
        next(batches)


def test_query_vectors_take_one_or_many_rows() -> None:
    assert query_vectors(np.ones(4)).shape == (1, 4)
    assert query_vectors(np.ones(4)).dtype == np.float32
    assert query_vectors(np.ones((3, 4), dtype=np.float64)).shape == (3, 4)
    with pytest.raises(InvalidArgumentError, match=r"\(d,\) or \(n, d\)"):
        query_vectors(np.ones((2, 2, 2)))


def test_a_single_string_is_a_batch_of_one() -> None:
    assert as_batch("abc", "ids") == ["abc"]
    assert as_batch(("a", "b"), "ids") == ["a", "b"]
    with pytest.raises(InvalidArgumentError, match=r"ids\[1\] is int"):
        as_batch(["a", 1], "ids")  # type: ignore[list-item]


def test_pairs_must_be_two_texts() -> None:
    assert text_pairs([("a", "b")]) == [("a", "b")]
    assert text_pairs([["a", "b"]]) == [("a", "b")]  # type: ignore[list-item]
    for bad in (["ab"], [("a",)], [("a", "b", "c")], [("a", 1)]):
        with pytest.raises(InvalidArgumentError, match=r"pairs\[0\]"):
            text_pairs(bad)  # type: ignore[arg-type]


class _WithoutPooler(FakeSimSearch):
    def Info(self, request: pb.InfoRequest, context: Any) -> pb.InfoResponse:  # noqa: N802
        response = super().Info(request, context)
        del response.poolings[:]
        response.poolings.extend([pb.POOLING_CLS, pb.POOLING_MEAN])
        return response


@pytest.fixture
def client_of_a_model_without_pooler() -> Iterator[Client]:
    with running(_WithoutPooler()) as address, Client(address, timeout=5) as client:
        yield client


def test_info_gives_the_model_the_poolings_the_server_reports(
    client_of_a_model_without_pooler: Client,
) -> None:
    """``simsearch info --json`` shows ``model.poolings``: it must not list POOLER here."""
    info = client_of_a_model_without_pooler.info()
    assert info.poolings == [Pooling.CLS, Pooling.MEAN]
    assert info.model.poolings == (Pooling.CLS, Pooling.MEAN)
    assert dataclasses.asdict(info.model)["poolings"] == (Pooling.CLS, Pooling.MEAN)
