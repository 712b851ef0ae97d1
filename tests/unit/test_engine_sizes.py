"""``engine.sizes`` against the real messages: each estimate is at least the ``ByteSize()`` of the
response the server builds (with the server's own converters) and at most 10 % over, plus a few
bytes per item.

Inputs vary what changes a size: token counts and lengths (long words, non-ASCII, pairs),
offsets past 127 and 16,383 characters, truncation, token selections that leave tokens
uncounted (their match index -1 takes ten bytes), metadata of every JSON kind.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simsearch.engine import sizes
from simsearch.engine.maxsim import align, maxsim_many, token_vectors
from simsearch.types import Hit, MaxSimOptions, TextInput, TokenEmbeddings, TokenSelection
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire import array_to_tensor
from simsearch.wire.alignments import alignment_to_wire
from simsearch.wire.documents import hits_to_wire
from simsearch.wire.embeddings import token_embeddings_to_wire
from unit.fake_encoder import DIMENSION, FakeEncoder

SLACK = 16  # bytes per item an estimate may be over (unsent 0.0 floats, short indices)

WORDS = ["a", "cat", "naïve", "日本語", "🙂", "x" * 200, "y" * 20_000, "...", ",", "!?"]
INPUTS: list[list[TextInput]] = [
    ["a cat"],
    ["a cat", "naïve 日本語 🙂 ...", " ".join(["cat"] * 30)],
    [("a cat sat", "a dog , sat !?")],
    ["x" * 200 + " " + "y" * 20_000 + " end"],  # offsets past 2**14, a 20,000-byte token
    [" ".join(WORDS)] * 3,
    [" " * 17_000 + "far away"],
]


def within(actual: int, estimate: int, items: int) -> None:
    assert actual <= estimate, (actual, estimate)
    assert estimate <= 1.1 * actual + SLACK * items + 16, (actual, estimate)


def columnless(tokens: list[TokenEmbeddings]) -> list[TokenEmbeddings]:
    """What ``admit`` sees: the tokens before any model work."""
    return [replace(t, embeddings=np.empty((len(t.tokens), 0), np.float32)) for t in tokens]


@pytest.mark.parametrize("inputs", INPUTS)
@pytest.mark.parametrize("truncate", [False, True])
def test_encode_tokens_size_is_exact(inputs: list[TextInput], truncate: bool) -> None:
    items = (
        FakeEncoder(max_length=8).encode_tokens(inputs, truncate=True)
        if truncate
        else (FakeEncoder(max_length=10_000).encode_tokens(inputs, truncate=False))
    )
    response = pb.EncodeTokensResponse(items=[token_embeddings_to_wire(item) for item in items])
    estimate = sizes.tokens_response(columnless(items), DIMENSION)
    assert estimate.total == response.ByteSize()
    assert list(estimate.items) == [
        pb.EncodeTokensResponse(items=[token_embeddings_to_wire(item)]).ByteSize() for item in items
    ]


@pytest.mark.parametrize("count", [1, 2, 127, 128, 300])
@pytest.mark.parametrize("hidden", [1, 16, 1024])
@pytest.mark.parametrize("truncated", [0, 1, "all"])
def test_encode_size_bounds_the_response(count: int, hidden: int, truncated: Any) -> None:
    indices = list(range(count)) if truncated == "all" else list(range(truncated))
    response = pb.EncodeResponse(
        embeddings=array_to_tensor(np.ones((count, hidden), np.float32)), truncated=indices
    )
    estimate = sizes.encode_response(count, hidden, truncate=bool(truncated))
    within(response.ByteSize(), estimate.total, count)
    assert sum(estimate.items) <= estimate.total


def compare_wire(
    tokens: list[TokenEmbeddings], options: MaxSimOptions | None, alignments: bool, matrix: bool
) -> pb.CompareResponse:
    """The CompareResponse the servicer builds (cosines are not what is measured: ones)."""
    n = len(tokens) // 2
    truncated = sorted({i // 2 for i, t in enumerate(tokens) if t.truncated})
    response = pb.CompareResponse(scores=[0.5] * n, truncated=truncated)
    if options is None:
        return response
    rows = [token_vectors(t) for t in tokens]
    late = [maxsim_many(a, [b], options)[0] for a, b in zip(rows[0::2], rows[1::2], strict=True)]
    response.maxsim_scores.extend(late)
    if options.alpha is not None:
        response.hybrid_scores.extend(late)
    if alignments:
        for a, b in zip(tokens[0::2], tokens[1::2], strict=True):
            found = align(a, b, options.tokens, with_matrix=matrix)
            response.alignments.append(alignment_to_wire(found))
    return response


PAIRS = [
    [("a cat", "a dog")],
    [("a cat , sat !", "... , !?"), ("naïve 日本語 🙂", "x" * 300 + " b")],
    [(" ".join(["cat"] * 40), " ".join(["dog ,"] * 40))] * 3,
    [(" " * 17_000 + "far , away", "near")],
]


@pytest.mark.parametrize("pairs", PAIRS)
@pytest.mark.parametrize("selection", list(TokenSelection))
@pytest.mark.parametrize(
    ("alpha", "alignments", "matrix"),
    [(None, False, False), (0.5, False, False), (None, True, False), (0.3, True, True)],
)
@pytest.mark.parametrize("truncate", [False, True])
def test_compare_size_bounds_the_response(
    pairs: list[tuple[str, str]],
    selection: TokenSelection,
    alpha: float | None,
    alignments: bool,
    matrix: bool,
    truncate: bool,
) -> None:
    flat = [text for pair in pairs for text in pair]
    encoder = FakeEncoder(max_length=12 if truncate else 10_000)
    tokens = encoder.encode_tokens(flat, truncate=truncate)
    options = MaxSimOptions(tokens=selection, alpha=alpha)
    actual = compare_wire(tokens, options, alignments, matrix).ByteSize()
    estimate = sizes.compare_response(
        len(pairs),
        truncate=truncate,
        maxsim=options,
        tokens=columnless(tokens) if alignments else None,
        with_matrix=matrix,
    )
    within(actual, estimate.total, len(pairs))


@pytest.mark.parametrize("count", [1, 5, 200])
def test_compare_size_of_cosines_only(count: int) -> None:
    response = pb.CompareResponse(scores=[0.25] * count)
    estimate = sizes.compare_response(count, truncate=False, maxsim=None)
    within(response.ByteSize(), estimate.total, count)


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=300),
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
hits = st.builds(
    Hit,
    id=st.text(min_size=1, max_size=200),
    score=st.floats(-1, 1),
    text=st.text(max_size=400),
    metadata=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    sentence_score=st.one_of(st.none(), st.floats(-1, 1)),
    maxsim_score=st.one_of(st.none(), st.floats(-1, 1)),
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(hits, max_size=5), min_size=1, max_size=4), data=st.data())
def test_search_size_bounds_the_response(rows: list[list[Hit]], data: st.DataObject) -> None:
    truncated = data.draw(st.lists(st.integers(0, 300), max_size=len(rows), unique=True))
    response = pb.SearchResponse(results=hits_to_wire(rows), truncated=truncated)
    estimate = sizes.search_response(rows, truncated)
    within(response.ByteSize(), estimate.total, sum(map(len, rows)) + 1)


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(st.lists(hits, max_size=6), min_size=1, max_size=3), k=st.integers(1, 6))
def test_reranked_size_bounds_every_reranking(rows: list[list[Hit]], k: int) -> None:
    """Whatever k of the candidates the rerank keeps, with MaxSim scores, fits the bound."""
    estimate = sizes.reranked_response(rows, k, [])
    for order in (1, -1):
        kept = [[replace(hit, maxsim_score=0.5) for hit in row[::order][:k]] for row in rows]
        response = pb.SearchResponse(results=hits_to_wire(kept))
        assert response.ByteSize() <= estimate.total


@pytest.mark.parametrize("value", [0, 1, 127, 128, 2**14 - 1, 2**14, 2**31, 2**63 - 1, -1])
def test_varint_size(value: int) -> None:
    message = pb.TokenEmbeddings(token_ids=[value])  # packed: tag, length, the varint
    assert sizes.varint_size(value) == message.ByteSize() - 2
