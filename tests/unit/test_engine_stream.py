"""Bulk upsert: chunks embedded while the one before commits, errors after partial success."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simsearch.engine import Engine
from simsearch.errors import InvalidArgumentError, LimitExceededError, NotFoundError
from simsearch.index import FaissCatalog
from simsearch.types import Document, Limits
from unit.fake_encoder import FakeEncoder

LIMITS = Limits(max_batch=8, max_k=50, max_text_chars=200)
LONG = " ".join(f"w{i}" for i in range(20))  # over the fake model's 12 words


@pytest.fixture
def engine(catalog: FaissCatalog) -> Engine:
    engine = Engine(FakeEncoder(max_length=12), catalog, LIMITS)
    engine.create_collection("c", store_tokens=True)
    return engine


def chunks(
    count: int, size: int, truncate: bool = False, long: tuple[int, ...] = (3, 10, 17)
) -> Iterator[tuple[list[Document], bool]]:
    for start in range(0, count, size):
        docs = [
            Document(f"d{i}", LONG if i in long else f"text number {i}", {"i": i})
            for i in range(start, min(count, start + size))
        ]
        yield docs, truncate


def test_every_chunk_is_stored_in_order(engine: Engine) -> None:
    upserted, truncated = engine.upsert_stream("c", chunks(45, 8, truncate=True))
    assert upserted == 45
    assert truncated == (3, 10, 17)
    assert engine.describe_collection("c").count == 45
    ids = [f"d{i}" for i in range(45)]
    assert [doc.metadata["i"] for doc in engine.get("c", ids[:8])] == list(range(8))
    hits = engine.rerank("c", [("text number 44", ["d44", "d1"])]).hits[0]
    assert hits[0].id == "d44"  # token vectors were stored with every chunk


def test_a_failing_chunk_keeps_the_chunks_before_it(engine: Engine) -> None:
    with pytest.raises(InvalidArgumentError, match=r"16 documents were committed before"):
        engine.upsert_stream("c", chunks(40, 8, long=(17,)))  # in the third chunk
    assert engine.describe_collection("c").count == 16


def test_an_oversized_chunk_is_refused_after_the_earlier_ones(engine: Engine) -> None:
    def stream() -> Iterator[tuple[list[Document], bool]]:
        yield [Document("a", "one")], False
        yield [Document(f"b{i}", "two") for i in range(9)], False

    with pytest.raises(LimitExceededError, match="1 documents were committed"):
        engine.upsert_stream("c", stream())
    assert engine.get("c", ["a"])[0].text == "one"


def test_an_unknown_collection_fails_before_reading_the_stream(engine: Engine) -> None:
    def stream() -> Iterator[tuple[list[Document], bool]]:
        raise AssertionError("read")
        yield [], False

    with pytest.raises(NotFoundError):
        engine.upsert_stream("nope", stream())


def test_an_empty_stream_stores_nothing(engine: Engine) -> None:
    assert engine.upsert_stream("c", iter([])) == (0, ())
