"""Serialized sizes of the responses that can outgrow ``max_message_bytes``, known early.

gRPC refuses to send a message over the limit only once the whole answer is built, so a request
whose answer can never be sent would still cost its full model work (EncodeTokens of 256 texts
of 512 tokens: about a minute of CPU) before failing. The engine sizes the answer first (token
counts are known once the texts are tokenized, before the model runs) and refuses with
``LimitExceededError`` (RESOURCE_EXHAUSTED), naming the size, the limit and how many items per
request would fit.

The sizes follow the protobuf wire format of ``simsearch/v1/simsearch.proto`` (every field
number there is below 16: one-byte tags; repeated scalars are packed). They are exact where
the content is known (vectors, token strings, ids, offsets, texts, metadata) and upper bounds
where it is not yet: a match index of an alignment, a truncated index, a float that may be 0.0
and then not sent. Tests compare them with ``ByteSize()`` of the real messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from simsearch.engine.maxsim import selected, token_kinds
from simsearch.errors import LimitExceededError
from simsearch.types import (
    Document,
    Hit,
    Limits,
    MaxSimOptions,
    ScoredPair,
    TokenEmbeddings,
    TokenSelection,
)

__all__ = [
    "MINING_PROGRESS",
    "Estimate",
    "check_fits",
    "classify_response",
    "compare_response",
    "encode_response",
    "exported_document",
    "fitting_runs",
    "hit_size",
    "reranked_response",
    "scored_pair",
    "search_response",
    "tokens_response",
    "varint_size",
]

_FLOAT = 5  # tag + 4 bytes
_DOUBLE = 9  # tag + 8 bytes
_SMALL = 2  # tag + one byte: a bool, an enum, an empty message or string, a null
_NEGATIVE_VARINT = 10  # an int32 or int64 below 0 is sign-extended to ten bytes
_VARINT_STEPS = [1 << (7 * i) for i in range(1, 10)]  # a varint grows a byte at each
_SHORT_STRING = 32  # characters: at most 128 UTF-8 bytes, so a one-byte length


T = TypeVar("T")


def fitting_runs(
    items: Iterable[T],
    size_of: Callable[[T], int],
    limit: int,
    most: int,
    too_big: Callable[[T, int], str],
) -> Iterator[list[T]]:
    """``items`` in order, cut into runs of at most ``most`` whose sizes add up to at most
    ``limit`` bytes (one message each); never an empty run. An item over ``limit`` alone is
    LimitExceededError with ``too_big(item, its size)`` as the message."""
    run: list[T] = []
    used = 0
    for item in items:
        size = size_of(item)
        if size > limit:
            raise LimitExceededError(too_big(item, size))
        if run and (len(run) == most or used + size > limit):
            yield run
            run, used = [], 0
        run.append(item)
        used += size
    if run:
        yield run


@dataclass(frozen=True)
class Estimate:
    """A response's size in bytes (``total``) and what each item of the request adds to it
    (``items``, for the advice on how to split: headers shrink with fewer items)."""

    total: int
    items: Sequence[int]


def check_fits(estimate: Estimate, limits: Limits, unit: str, alone: str) -> None:
    """Refuse a response over ``limits.max_message_bytes``, saying how many ``unit`` (e.g.
    "texts") per request would fit; ``alone``: what to do when a single item is too large."""
    limit = limits.max_message_bytes
    if estimate.total <= limit:
        return
    largest = max(estimate.items, default=0)
    overhead = estimate.total - sum(estimate.items)
    fit = (limit - overhead) // largest if largest else 0
    if fit >= 1:
        advice = f"send at most {fit:,} {unit} per request"
    elif largest:
        index = list(estimate.items).index(largest)
        advice = f"{unit}[{index}] alone needs {largest:,} bytes: {alone}"
    else:
        advice = alone
    raise LimitExceededError(
        f"the response would take {estimate.total:,} bytes, over the server's limit of "
        f"{limit:,} (max_message_bytes): {advice}"
    )


# -- wire format ----------------------------------------------------------------------------


def varint_size(value: int) -> int:
    """Bytes of ``value`` as a protobuf varint (int32/int64 field)."""
    if value < 0:
        return _NEGATIVE_VARINT
    return max(1, (value.bit_length() + 6) // 7)


def _varints(values: npt.NDArray[np.integer[Any]]) -> int:
    """Bytes of every value as a varint, summed (numpy: token arrays can be long)."""
    array = np.asarray(values, dtype=np.int64)
    sizes = np.ones(array.shape, dtype=np.int64)
    for step in _VARINT_STEPS:
        sizes += array >= step
    sizes[array < 0] = _NEGATIVE_VARINT
    return int(sizes.sum())


def _field(payload: int) -> int:
    """A length-delimited field (string, bytes, message, packed): tag, length, payload."""
    return 1 + varint_size(payload) + payload


def _packed(payload: int) -> int:
    """A packed repeated field: absent when empty."""
    return _field(payload) if payload else 0


def _text(value: str) -> int:
    return len(value.encode("utf-8", "surrogatepass"))


def _strings(values: Sequence[str]) -> int:
    """A repeated string field: every element, empty ones too."""
    if max(map(len, values), default=0) < _SHORT_STRING:  # the usual tokens: no Python loop
        return 2 * len(values) + _text("".join(values))
    return sum(_field(_text(value)) for value in values)


def _tensor(rows: int, columns: int) -> int:
    """A ``Tensor`` message of ``(rows, columns)`` float32: shape, dtype, data."""
    data = 4 * rows * columns
    return (
        _packed(varint_size(rows) + varint_size(columns)) + _SMALL + (_field(data) if data else 0)
    )


def _index(index: int, truncate: bool) -> int:
    """What item ``index`` may add to a ``truncated`` field."""
    return varint_size(index) if truncate else 0


def _truncated(indices: Sequence[int]) -> int:
    """The packed ``truncated`` field of a response."""
    return _packed(sum(varint_size(i) for i in indices))


# -- Encode, EncodeTokens, Compare ----------------------------------------------------------


def encode_response(count: int, hidden: int, *, truncate: bool) -> Estimate:
    """``EncodeResponse`` for ``count`` inputs: a ``(count, hidden)`` float32 tensor and, with
    ``truncate``, as many truncated indices as there may be."""
    total = _field(_tensor(count, hidden)) + (_truncated(range(count)) if truncate else 0)
    return Estimate(total, [4 * hidden + _index(i, truncate) for i in range(count)])


def tokens_response(items: Sequence[TokenEmbeddings], hidden: int) -> Estimate:
    """``EncodeTokensResponse`` for these tokens (``embeddings`` may have no columns yet:
    ``hidden`` gives the width). Exact."""
    sizes = [_field(_token_embeddings(item, hidden)) for item in items]
    return Estimate(sum(sizes), sizes)


def _token_embeddings(item: TokenEmbeddings, hidden: int) -> int:
    n = len(item.tokens)
    return (
        _field(_tensor(n, hidden))
        + _strings(item.tokens)
        + _packed(_varints(item.token_ids))
        + _packed(_varints(item.offsets[:, 0]))
        + _packed(_varints(item.offsets[:, 1]))
        + _packed(n)  # special: one byte per bool
        + _packed(_varints(item.segment_ids))
        + (_SMALL if item.truncated else 0)
    )


def compare_response(
    count: int,
    *,
    truncate: bool,
    maxsim: MaxSimOptions | None,
    tokens: Sequence[TokenEmbeddings] | None = None,
    with_matrix: bool = False,
) -> Estimate:
    """``CompareResponse`` for ``count`` pairs: scores, truncated indices, MaxSim and hybrid
    scores when asked, and alignments when ``tokens`` (a0, b0, a1, b1 ...) are given."""
    floats = 1 + (maxsim is not None) + (maxsim is not None and maxsim.alpha is not None)
    total = floats * _packed(4 * count) + (_truncated(range(count)) if truncate else 0)
    items = [4 * floats + _index(i, truncate) for i in range(count)]
    if tokens is not None:
        selection = (maxsim or MaxSimOptions()).tokens
        aligned = [
            _field(_alignment(a, b, selection, with_matrix))
            for a, b in zip(tokens[0::2], tokens[1::2], strict=True)
        ]
        total += sum(aligned)
        items = [size + extra for size, extra in zip(items, aligned, strict=True)]
    return Estimate(total, items)


def _alignment(
    a: TokenEmbeddings, b: TokenEmbeddings, selection: TokenSelection, with_matrix: bool
) -> int:
    """An ``Alignment``: both sides, both match arrays and their similarities, the matrix."""
    na, nb = len(a.tokens), len(b.tokens)
    return (
        _field(_aligned_tokens(a))
        + _field(_aligned_tokens(b))
        + _packed(_matches(_counted(a, selection), na, nb))
        + _packed(4 * na)
        + _packed(_matches(_counted(b, selection), nb, na))
        + _packed(4 * nb)
        + (_field(_tensor(na, nb)) if with_matrix else 0)
    )


def _aligned_tokens(side: TokenEmbeddings) -> int:
    return (
        _strings(side.tokens)
        + _packed(_varints(side.offsets[:, 0]))
        + _packed(_varints(side.offsets[:, 1]))
        + _packed(len(side.tokens))  # counted: one byte per bool
    )


def _counted(side: TokenEmbeddings, selection: TokenSelection) -> int:
    """How many of the side's tokens the selection counts (as ``maxsim.align`` will)."""
    if selection is TokenSelection.ALL:
        return len(side.tokens)
    return int(selected(token_kinds(side.tokens, side.special_mask), selection).sum())


def _matches(counted: int, tokens: int, other: int) -> int:
    """Match indices: below ``other`` for a counted token, -1 (ten bytes) for the others."""
    return counted * varint_size(max(other - 1, 0)) + (tokens - counted) * _NEGATIVE_VARINT


def classify_response(count: int, labels: Sequence[str], *, truncate: bool) -> Estimate:
    """``ClassifyResponse`` for ``count`` inputs of a head with ``labels``: per input the
    label (the longest name counted), its id, and a probability and a logit per label."""
    longest = max((_text(label) for label in labels), default=0)
    result = _field(_field(longest) + 1 + varint_size(len(labels)) + 2 * _packed(4 * len(labels)))
    total = count * result + (_truncated(range(count)) if truncate else 0)
    return Estimate(total, [result + _index(i, truncate) for i in range(count)])


# -- Search and Rerank ----------------------------------------------------------------------


def search_response(rows: Sequence[Sequence[Hit]], truncated: Sequence[int]) -> Estimate:
    """``SearchResponse`` (or ``RerankResponse``) holding these hits per query."""
    sizes = [_field(sum(_field(hit_size(hit)) for hit in row)) for row in rows]
    return Estimate(sum(sizes) + _truncated(truncated), sizes)


def reranked_response(
    candidates: Sequence[Sequence[Hit]], k: int | None, truncated: Sequence[int]
) -> Estimate:
    """The most a ``SearchResponse`` or ``RerankResponse`` can take once ``candidates`` are
    reranked and cut to ``k`` (None: kept): per query, its k largest candidates, each with a
    MaxSim score (or a relevance score: the same size)."""
    largest = [
        sorted((hit_size(hit, maxsim=True) for hit in row), reverse=True)[:k] for row in candidates
    ]
    sizes = [_field(sum(_field(size) for size in row)) for row in largest]
    return Estimate(sum(sizes) + _truncated(truncated), sizes)


def hit_size(hit: Hit, *, maxsim: bool | None = None) -> int:
    """A ``Hit``; ``maxsim``: count a MaxSim score whether or not ``hit`` has one yet.

    Scores count as sent (a float of 0.0 is not), so this is at most 10 bytes over."""
    with_maxsim = hit.maxsim_score is not None if maxsim is None else maxsim
    return (
        _field(_text(hit.id))
        + _FLOAT  # score
        + (_field(_text(hit.text)) if hit.text else 0)
        + _field(struct_size(hit.metadata or {}))
        + _FLOAT  # sentence_score
        + (_FLOAT if with_maxsim else 0)
        + (_FLOAT if hit.relevance_score is not None else 0)
    )


def exported_document(doc: Document) -> int:
    """A ``Document`` as one element of a repeated field (Export's chunks): tag, length, id,
    text and metadata."""
    payload = _field(_text(doc.id)) + _field(_text(doc.text)) + _field(struct_size(doc.metadata))
    return _field(payload)


# The progress fields of a ``MinePairsResponse`` (two int64, tag and ten bytes at most).
MINING_PROGRESS = 2 * (1 + 10)


def scored_pair(pair: ScoredPair) -> int:
    """A ``ScoredPair`` as one element of ``MinePairsResponse.pairs``: tag, length, ids and
    scores (counted as sent; a score of 0.0 is not)."""
    payload = _field(_text(pair.a)) + _field(_text(pair.b)) + 2 * _FLOAT
    return _field(payload + (_FLOAT if pair.maxsim_score is not None else 0))


def struct_size(values: Mapping[str, Any]) -> int:
    """A ``google.protobuf.Struct`` of JSON-like ``values`` (map entries: key and Value)."""
    return sum(_field(_field(_text(key)) + _field(_value(value))) for key, value in values.items())


def _value(value: Any) -> int:
    """A ``google.protobuf.Value`` message: its one set field (numbers travel as doubles)."""
    if value is None or isinstance(value, bool):
        return _SMALL
    if isinstance(value, (int, float)):
        return _DOUBLE
    if isinstance(value, str):
        return _field(_text(value))
    if isinstance(value, Mapping):
        return _field(struct_size(value))
    return _field(sum(_field(_value(item)) for item in value))  # a list
