"""Requests the engine must refuse before any model work, with the fake encoder.

- Responses that could never be sent (over ``max_message_bytes``): RESOURCE_EXHAUSTED
  (``LimitExceededError``) naming the size, the limit and how many items would fit, and the
  encoder's "model" never runs (``FakeEncoder.passes``).
- Filters: at most ``max_filter_keys`` keys; no NUL in filter or metadata keys and strings
  (SQLite's ``json_each`` cuts at NUL, so a filter on "a" matched "a\\u0000b").
- Texts with nothing to embed (NUL, zero-width, combining or control characters only):
  INVALID_ARGUMENT like whitespace-only texts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from simsearch.engine import Engine
from simsearch.errors import InvalidArgumentError, LimitExceededError
from simsearch.index import FaissCatalog
from simsearch.types import Document, Limits, MaxSimOptions, RerankOptions
from unit.fake_encoder import DIMENSION, FakeEncoder

WORDS = [f"w{i}" for i in range(40)]
TEXT = " ".join(WORDS)  # 40 tokens + 2 special


@pytest.fixture
def encoder() -> FakeEncoder:
    return FakeEncoder(max_length=64)


EngineFor = Callable[..., Engine]


@pytest.fixture
def engine_for(encoder: FakeEncoder, catalog: FaissCatalog) -> EngineFor:
    """``engine_for(**limits)``: an engine over the shared encoder and catalog."""
    return lambda **limits: Engine(encoder, catalog, Limits(**limits))


def advised(error: pytest.ExceptionInfo[LimitExceededError]) -> int:
    """The N of "send at most N ... per request" in a refusal."""
    found = re.search(r"send at most ([\d,]+) ", str(error.value))
    assert found, error.value
    return int(found.group(1).replace(",", ""))


# -- item 3: responses too large to send ----------------------------------------------------

TOKENS_BYTES = 42 * 4 * DIMENSION  # the vectors alone of one TEXT's token embeddings


def test_encode_tokens_over_the_message_limit_is_refused_before_the_model(
    engine_for: EngineFor, encoder: FakeEncoder
) -> None:
    limit = 10 * TOKENS_BYTES
    engine = engine_for(max_message_bytes=limit)
    with pytest.raises(LimitExceededError) as refused:
        engine.encode_tokens([TEXT] * 20)
    assert encoder.passes == 0
    message = str(refused.value)
    assert f"{limit:,}" in message and "max_message_bytes" in message
    fit = advised(refused)
    assert 1 <= fit < 10
    assert len(engine.encode_tokens([TEXT] * fit)) == fit  # the advice works
    with pytest.raises(LimitExceededError):
        engine.encode_tokens([TEXT] * (fit + 1))


def test_one_text_over_the_limit_says_so(engine_for: EngineFor, encoder: FakeEncoder) -> None:
    engine = engine_for(max_message_bytes=TOKENS_BYTES // 2)
    with pytest.raises(LimitExceededError, match=r"inputs\[1\] alone needs .*shorter texts"):
        engine.encode_tokens(["w1", TEXT])
    assert encoder.passes == 0


def test_encode_over_the_message_limit_is_refused(
    engine_for: EngineFor, encoder: FakeEncoder
) -> None:
    engine = engine_for(max_message_bytes=4 * DIMENSION * 5 + 64)
    with pytest.raises(LimitExceededError) as refused:
        engine.encode(["a cat"] * 8)
    assert encoder.passes == 0
    fit = advised(refused)
    assert engine.encode(["a cat"] * fit).embeddings.shape == (fit, DIMENSION)


def test_compare_similarity_matrices_over_the_limit_are_refused_before_the_model(
    engine_for: EngineFor, encoder: FakeEncoder
) -> None:
    pair = (TEXT, TEXT)
    engine = engine_for(max_message_bytes=5 * 42 * 42 * 4)
    with pytest.raises(LimitExceededError, match="pairs per request") as refused:
        engine.compare([pair] * 8, similarity_matrix=True)
    assert encoder.passes == 0
    fit = advised(refused)
    assert len(engine.compare([pair] * fit, similarity_matrix=True).cosine) == fit
    # Without the matrices the same pairs fit.
    assert len(engine.compare([pair] * 8, alignments=True).cosine) == 8


def test_a_pair_whose_matrix_alone_is_too_large_names_the_way_out(
    engine_for: EngineFor, encoder: FakeEncoder
) -> None:
    engine = engine_for(max_message_bytes=42 * 42 * 4 // 2)
    with pytest.raises(LimitExceededError, match=r"pairs\[0\] alone .*without similarity_matrix"):
        engine.compare([(TEXT, TEXT)], similarity_matrix=True)
    assert encoder.passes == 0


@pytest.fixture
def stored(engine_for: EngineFor, encoder: FakeEncoder) -> FakeEncoder:
    """A collection "docs" of 6 documents with 1,000-character texts."""
    engine = engine_for()
    engine.create_collection("docs")
    long_text = "word" * 250  # one 1,000-character "word"
    engine.upsert("docs", [Document(f"d{i}", f"{long_text} {i}") for i in range(6)])
    encoder.passes = 0
    return encoder


def test_search_hits_over_the_limit_are_refused(engine_for: EngineFor, stored: FakeEncoder) -> None:
    engine = engine_for(max_message_bytes=3_500)
    with pytest.raises(LimitExceededError, match="fewer hits") as refused:
        engine.search("docs", ["word"], k=6)
    assert "3,500" in str(refused.value)
    assert len(engine.search("docs", ["word"], k=3).hits[0]) == 3
    with pytest.raises(LimitExceededError) as refused:
        engine.search("docs", ["word 1", "word 2", "word 3"], k=3)
    assert advised(refused) == 1


def test_reranked_search_is_refused_before_the_candidates_are_encoded(
    engine_for: EngineFor, stored: FakeEncoder
) -> None:
    engine = engine_for(max_message_bytes=3_500)
    with pytest.raises(LimitExceededError):
        engine.search("docs", ["word"], k=6, rerank=RerankOptions(depth=6))
    assert stored.passes == 1  # the query only: the stored texts were not encoded again
    assert len(engine.search("docs", ["word"], k=3, rerank=RerankOptions(depth=6)).hits[0]) == 3


def test_rerank_over_the_limit_is_refused_before_the_model(
    engine_for: EngineFor, stored: FakeEncoder
) -> None:
    engine = engine_for(max_message_bytes=3_500)
    with pytest.raises(LimitExceededError, match="fewer ids"):
        engine.rerank("docs", [("word", [f"d{i}" for i in range(6)])], MaxSimOptions())
    assert stored.passes == 0
    assert len(engine.rerank("docs", [("word", ["d1", "d2"])]).hits[0]) == 2


# -- item 4: filters ------------------------------------------------------------------------


@pytest.fixture
def tagged(engine_for: EngineFor) -> Engine:
    """A collection "docs": "wide" has 2,000 metadata keys k0..k1999, "a" and "ab" a key s."""
    engine = engine_for()
    engine.create_collection("docs")
    wide = {f"k{i}": i for i in range(2000)}
    engine.upsert(
        "docs",
        [
            Document("wide", "wide", wide),
            Document("a", "a", {"s": "a"}),
            Document("ab", "ab", {"s": "ab"}),
        ],
    )
    return engine


def matches(engine: Engine, filter: dict[str, Any]) -> set[str]:
    (hits,) = engine.search("docs", ["a"], k=10, filter=filter).hits
    return {hit.id for hit in hits}


def keys(count: int) -> dict[str, Any]:
    return {f"k{i}": i for i in range(count)}


def test_filter_keys_are_capped(tagged: Engine, encoder: FakeEncoder) -> None:
    assert tagged.limits.max_filter_keys == 64
    assert matches(tagged, keys(64)) == {"wide"}
    encoder.passes = 0
    with pytest.raises(LimitExceededError, match=r"65 keys.*at most 64 \(max_filter_keys\)"):
        matches(tagged, keys(65))
    with pytest.raises(LimitExceededError, match="1,000 keys"):
        matches(tagged, keys(1000))  # SQLite refused these as "Expression tree is too large"
    assert encoder.passes == 0


def test_a_raised_cap_still_fits_sqlite(engine_for: EngineFor, tagged: Engine) -> None:
    """With max_filter_keys raised, 2,000 keys reach SQLite as a shallow expression."""
    engine = engine_for(max_filter_keys=5000)
    assert matches(engine, keys(2000)) == {"wide"}
    assert matches(engine, {**keys(1999), "k1999": -1}) == set()


def test_large_filter_strings_are_compared(tagged: Engine) -> None:
    assert matches(tagged, {"s": "x" * 1_000_000}) == set()
    assert matches(tagged, {"x" * 1_000_000: "a"}) == set()
    assert matches(tagged, {"s": "a"}) == {"a"}


@pytest.mark.parametrize(
    "metadata",
    [
        {"s": "a\0b"},
        {"s\0x": "a"},
        {"outer": {"in\0ner": 1}},
        {"outer": {"inner": "a\0"}},
        {"list": ["fine", "\0"]},
        {"list": [{"deep": ["\0"]}]},
    ],
)
def test_nul_in_metadata_is_refused(
    tagged: Engine, encoder: FakeEncoder, metadata: dict[str, Any]
) -> None:
    encoder.passes = 0
    with pytest.raises(InvalidArgumentError, match="U\\+0000"):
        tagged.upsert("docs", [Document("nul", "a nul", metadata)])
    assert encoder.passes == 0
    with pytest.raises(InvalidArgumentError, match="U\\+0000"):
        tagged.upsert("docs", [Document("fine", "fine"), Document("nul", "a nul", metadata)])
    assert tagged.get("docs", ["a"])[0].metadata == {"s": "a"}


def test_no_filter_matches_by_a_prefix_cut_at_nul(tagged: Engine) -> None:
    """A stored "a\\0b" would have matched {"s": "a"}: it cannot be stored, and the filter
    matches exactly."""
    with pytest.raises(InvalidArgumentError):
        tagged.upsert("docs", [Document("nul", "nul", {"s": "a\0b"})])
    assert matches(tagged, {"s": "a"}) == {"a"}


@pytest.mark.parametrize("filter", [{"s": "a\0b"}, {"s": "a\0"}, {"s\0": "a"}, {"\0": None}])
def test_nul_in_a_filter_is_refused(tagged: Engine, filter: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError, match="U\\+0000"):
        matches(tagged, filter)


# -- item 11: texts with nothing to embed ---------------------------------------------------

EMPTY = {
    "nul": "\0",
    "nuls": "\0" * 40,
    "zero-width": "\u200b\u200c\u200d\u2060\ufeff",
    "zero-width-long": "\u200b" * 100,
    "combining": "\u0301" * 3,
    "combining-enclosing": "\u20dd\u0488",
    "control": "\x01\x02\x7f\x85\x9f",
    "replacement": "\ufffd",
    "private-use": "\ue000\U000f0000",
    "mixed": " \0\u200b\u0301\t\ufeff\u00ad ",
    "mixed-long": " \u200b" * 60 + "\u0301",
}
CONTENT = {
    "letter": "\0\u200ba\u0301",
    "late-letter": "\u200b" * 100 + "x",
    "accented": "e\u0301",
    "emoji": "\u200b🙂",
    "cjk": "\u3000日",
    "digit": "\x007",
}


def calls(engine: Engine, text: str) -> list[Callable[[], object]]:
    """Every way a text reaches the encoder."""
    return [
        lambda: engine.encode([text]),
        lambda: engine.encode([("fine", text)]),
        lambda: engine.encode_tokens([text]),
        lambda: engine.compare([("fine", text)]),
        lambda: engine.compare([(text, "fine")], alignments=True),
        lambda: engine.upsert("docs", [Document("t", text)]),
        lambda: engine.search("docs", [text], k=1),
        lambda: engine.search("docs", [text], k=1, rerank=RerankOptions(depth=2)),
        lambda: engine.rerank("docs", [(text, ["a"])]),
    ]


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_texts_with_nothing_to_embed_are_invalid(
    tagged: Engine, encoder: FakeEncoder, name: str
) -> None:
    encoder.passes = 0
    for call in calls(tagged, EMPTY[name]):
        with pytest.raises(InvalidArgumentError, match="nothing to embed"):
            call()
    assert encoder.passes == 0


@pytest.mark.parametrize("name", sorted(CONTENT))
def test_texts_with_one_character_of_content_are_accepted(tagged: Engine, name: str) -> None:
    for call in calls(tagged, CONTENT[name]):
        call()
