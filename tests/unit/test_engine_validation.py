"""The rules checked once, in ``engine.validation``: the collection name (also the catalog's
and Milvus' rule) and the pooling a model supports (for every operation that takes one)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from simsearch.engine import Engine
from simsearch.engine import validation as check
from simsearch.errors import InvalidArgumentError, LimitExceededError
from simsearch.index.catalog import FaissCatalog
from simsearch.index.milvus.names import simsearch_name, to_milvus
from simsearch.types import Limits, ModelInfo, Pooling, is_collection_name
from unit.fake_encoder import FakeEncoder

GOOD_NAMES = ["a", "Z9", "my-docs_v1.2", "0" * 64]
BAD_NAMES = ["", ".hidden", "-dash", "_under", "a/b", "a\\b", "x\0y", "a b", "é", "a" * 65, "a\n"]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names_pass_every_layer(name: str, catalog: FaissCatalog) -> None:
    assert is_collection_name(name)
    check.check_collection_name(name)
    assert simsearch_name(to_milvus(name)) == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_by_every_layer(name: str, catalog: FaissCatalog) -> None:
    assert not is_collection_name(name)
    with pytest.raises(InvalidArgumentError, match=r"invalid collection name .*: use 1-64 of"):
        check.check_collection_name(name)
    with pytest.raises(InvalidArgumentError, match="invalid collection name"):
        catalog.open(name)
    with pytest.raises(ValueError, match="not a simsearch collection name"):
        to_milvus(name)


def _without_pooler() -> ModelInfo:
    return ModelInfo("no-pooler", "f", 16, 32, 100, poolings=(Pooling.CLS, Pooling.MEAN))


def test_a_supported_pooling_passes() -> None:
    for pooling in (Pooling.CLS, Pooling.MEAN):
        check.check_pooling(pooling, _without_pooler())


def test_pooler_on_a_model_without_one_says_why_and_what_works() -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        check.check_pooling(Pooling.POOLER, _without_pooler())
    assert str(raised.value) == (
        "model 'no-pooler' does not support pooling 'pooler' (it has no pooler layer); "
        "it supports cls, mean"
    )


@pytest.fixture
def engine_without_pooler(catalog: FaissCatalog) -> tuple[Engine, FakeEncoder]:
    encoder = FakeEncoder()
    encoder._info = replace(encoder.info, poolings=(Pooling.CLS, Pooling.MEAN))
    return Engine(encoder, catalog, Limits()), encoder


def test_every_operation_taking_a_pooling_checks_it_before_any_model_work(
    engine_without_pooler: tuple[Engine, FakeEncoder],
) -> None:
    engine, encoder = engine_without_pooler
    attempts = [
        lambda: engine.encode(["text"], Pooling.POOLER),
        lambda: engine.compare([("a", "b")], Pooling.POOLER),
        lambda: engine.create_collection("docs", Pooling.POOLER),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidArgumentError, match="does not support pooling 'pooler'"):
            attempt()
    assert encoder.calls == []
    assert engine.list_collections() == []
    assert engine.encode(["text"], Pooling.MEAN).embeddings.shape == (1, encoder.info.hidden_size)


@pytest.mark.parametrize(
    ("after_id", "chunk_size", "error", "message"),
    [
        ("x" * 513, 0, InvalidArgumentError, "after_id is 513 characters; ids have at most 512"),
        ("a\0b", 0, InvalidArgumentError, "after_id contains the character U+0000"),
        ("", -1, InvalidArgumentError, "chunk_size must be positive (or 0 for the default)"),
        ("", 9, LimitExceededError, "chunk_size is 9; the server sends at most 8 documents"),
    ],
)
def test_export_requests_are_checked_like_ids_and_batches(
    after_id: str, chunk_size: int, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        check.check_export(after_id, chunk_size, Limits(max_batch=8))
    assert str(raised.value).startswith(message)


def test_an_export_from_the_start_in_default_chunks_passes() -> None:
    check.check_export("", 0, Limits(max_batch=8))
    check.check_export("x" * 512, 8, Limits(max_batch=8))
