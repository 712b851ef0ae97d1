"""Checks on request data, run before any expensive work.

Each check raises an error from ``simsearch.errors`` whose message names the offending field and
item, so a caller can fix the request: ``InvalidArgumentError`` for input that is wrong in itself,
``LimitExceededError`` for input over a configured limit.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from simsearch.errors import InvalidArgumentError, LimitExceededError, quoted
from simsearch.types import (
    COLLECTION_NAME_RULE,
    Calibration,
    CalibrationKind,
    Document,
    FloatArray,
    Limits,
    MaxSimDirection,
    MaxSimOptions,
    ModelInfo,
    Pooling,
    RerankOptions,
    SearchParams,
    TextInput,
    TokenSelection,
    is_collection_name,
)

__all__ = [
    "check_batch",
    "check_calibration",
    "check_chunk_size",
    "check_collection_name",
    "check_documents",
    "check_export",
    "check_filter",
    "check_ids",
    "check_k",
    "check_maxsim",
    "check_min_score",
    "check_pooling",
    "check_rerank",
    "check_rerank_ids",
    "check_search_params",
    "check_text_batch",
    "check_top_m",
    "check_vectors",
]

MAX_ID_CHARS = 512


def check_collection_name(name: str) -> None:
    if not is_collection_name(name):
        raise InvalidArgumentError(
            f"invalid collection name {quoted(name)}: use {COLLECTION_NAME_RULE}"
        )


def check_pooling(pooling: Pooling, model: ModelInfo) -> None:
    """A pooling the model supports: POOLER needs a pooler layer in the checkpoint."""
    if pooling in model.poolings:
        return
    name = pooling.value if isinstance(pooling, Pooling) else str(pooling)
    why = " (it has no pooler layer)" if pooling == Pooling.POOLER else ""
    raise InvalidArgumentError(
        f"model {model.name!r} does not support pooling {name!r}{why}; "
        f"it supports {', '.join(p.value for p in model.poolings)}"
    )


def check_calibration(calibration: Calibration, dimension: int) -> None:
    """A known kind; ``dimensions`` 0 (all) or 1..``dimension``, and only with WHITEN."""
    if not isinstance(calibration.kind, CalibrationKind):
        raise InvalidArgumentError(
            f"unknown calibration {quoted(str(calibration.kind))}: use none, center or whiten"
        )
    dimensions = calibration.dimensions
    if dimensions and calibration.kind != CalibrationKind.WHITEN:
        raise InvalidArgumentError(
            f"calibration dimensions ({dimensions}) apply to whiten only, not to "
            f"{calibration.kind.value}; leave it 0"
        )
    if not 0 <= dimensions <= dimension:
        raise InvalidArgumentError(
            f"calibration dimensions must be 0 (keep all) or 1..{dimension} (the model's "
            f"dimension), got {dimensions}"
        )


def check_batch(field: str, size: int, limits: Limits) -> None:
    """A batch must be non-empty and at most ``limits.max_batch`` long."""
    if size == 0:
        raise InvalidArgumentError(f"{field} is empty: send at least one")
    if size > limits.max_batch:
        raise LimitExceededError(
            f"{field} has {size} items; the server accepts at most {limits.max_batch} per request"
        )


def check_text(field: str, text: str, limits: Limits) -> None:
    """A text within the size limit with something to embed (see :func:`has_content`)."""
    if len(text) > limits.max_text_chars:
        raise LimitExceededError(
            f"{field} has {len(text)} characters; the limit is {limits.max_text_chars}"
        )
    if not has_content(text):
        raise InvalidArgumentError(
            f"{field} has nothing to embed: it is empty or holds only whitespace, control, "
            "zero-width or combining characters"
        )


# Characters that are not content on their own: BERT's tokenizer drops control and format
# characters (NUL, zero-width spaces, BOM ...), private-use characters and U+FFFD, and splits on
# whitespace; combining marks (accents, which uncased models strip) need a base character.
# Such a text would embed as [CLS] [SEP], one vector shared by all of them.
_NOT_CONTENT = frozenset({"Cc", "Cf", "Cs", "Co", "Mn", "Mc", "Me", "Zs", "Zl", "Zp"})
_REPLACEMENT = "\ufffd"
_HEAD = 32  # characters tried one by one before the whole-text pattern is used


def _is_content(char: str) -> bool:
    return not (
        char.isspace() or char == _REPLACEMENT or unicodedata.category(char) in _NOT_CONTENT
    )


def has_content(text: str) -> bool:
    """Whether ``text`` has a character that is content: not whitespace, a control, format,
    private-use or surrogate character, a combining mark or U+FFFD.

    A text's first characters are tried one by one (a real text has content at once); the rest
    of a longer one is searched with a pattern built once, so a text of 100,000 zero-width
    characters costs one regular-expression scan."""
    if any(map(_is_content, text[:_HEAD])):
        return True
    return len(text) > _HEAD and _content_pattern().search(text, _HEAD) is not None


@functools.cache
def _content_pattern() -> re.Pattern[str]:
    """One content character: any but the code points :func:`_is_content` refuses, as one
    negated class of ranges (built once per process, about half a second)."""
    ranges: list[str] = []
    start = None
    for point in range(sys.maxunicode + 2):
        refused = point <= sys.maxunicode and not _is_content(chr(point))
        if refused and start is None:
            start = point
        elif not refused and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(point - 1))}")
            start = None
    return re.compile(f"[^{''.join(ranges)}]")


def check_text_batch(field: str, inputs: Sequence[TextInput], limits: Limits) -> None:
    """Texts or text pairs: a batch of non-blank texts within the size limits."""
    if isinstance(inputs, str):  # a bare string would be taken as a batch of characters
        raise InvalidArgumentError(f"{field} must be a list of texts, not one string")
    check_batch(field, len(inputs), limits)
    for i, item in enumerate(inputs):
        if isinstance(item, tuple):
            check_text(f"{field}[{i}].a", item[0], limits)
            check_text(f"{field}[{i}].b", item[1], limits)
        else:
            check_text(f"{field}[{i}]", item, limits)


def check_ids(field: str, ids: Sequence[str], limits: Limits) -> None:
    check_batch(field, len(ids), limits)
    for i, doc_id in enumerate(ids):
        _check_id(f"{field}[{i}]", doc_id)


def check_export(after_id: str, chunk_size: int, limits: Limits) -> None:
    """An export's start, empty (the first document) or a position an id can have, and its
    chunk size: 0 (the default) up to ``limits.max_batch``."""
    if after_id:
        _check_id("after_id", after_id)
    check_chunk_size(chunk_size, limits, "documents")


def check_chunk_size(chunk_size: int, limits: Limits, unit: str) -> None:
    """Items (``unit``) per message of a response stream: 0 (the default) up to
    ``limits.max_batch``."""
    if chunk_size < 0:
        raise InvalidArgumentError(
            f"chunk_size must be positive (or 0 for the default), got {chunk_size}"
        )
    if chunk_size > limits.max_batch:
        raise LimitExceededError(
            f"chunk_size is {chunk_size}; the server sends at most {limits.max_batch} "
            f"{unit} per message (max_batch)"
        )


def _check_id(field: str, doc_id: str) -> None:
    if not doc_id:
        raise InvalidArgumentError(f"{field} is empty: every document needs an id")
    if len(doc_id) > MAX_ID_CHARS:
        raise InvalidArgumentError(f"{field} is {len(doc_id)} characters; ids have at most 512")
    if "\0" in doc_id:  # the store looks ids up through SQLite's json_each, which cuts at NUL
        raise InvalidArgumentError(f"{field} contains the character U+0000, which ids may not")


def check_documents(documents: Sequence[Document], limits: Limits) -> None:
    """Upsert batch: valid ids, unique within the request, non-blank texts."""
    check_batch("documents", len(documents), limits)
    first_seen: dict[str, int] = {}
    for i, doc in enumerate(documents):
        _check_id(f"documents[{i}].id", doc.id)
        if doc.id in first_seen:
            raise InvalidArgumentError(
                f"documents[{i}].id {doc.id!r} repeats documents[{first_seen[doc.id]}].id: "
                "ids must be unique within a request"
            )
        first_seen[doc.id] = i
        check_text(f"documents[{i}].text", doc.text, limits)
        _check_metadata(f"documents[{i}].metadata", doc.metadata)


def _check_metadata(field: str, metadata: Any) -> None:
    """Metadata must be a JSON object with finite numbers (it is stored as JSON) and no NUL
    in its keys or strings, at any depth (see :func:`_check_no_nul`)."""
    if not isinstance(metadata, dict):
        raise InvalidArgumentError(f"{field} must be a JSON object")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{field} is not JSON with finite numbers: {exc}") from None
    _check_no_nul(field, metadata)


def _check_no_nul(field: str, value: Any) -> None:
    """No key or string holds U+0000: filters match metadata through SQLite's ``json_each``,
    which cuts strings at NUL, so ``"a\\u0000b"`` would match a filter on ``"a"``."""
    if isinstance(value, str):
        if "\0" in value:
            raise InvalidArgumentError(
                f"{field} contains the character U+0000, which metadata and filters may not"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_no_nul(f"{field} key {quoted(key)}", key)
            _check_no_nul(f"{field}[{quoted(key)}]", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_no_nul(f"{field}[{i}]", item)


def check_k(k: int, limits: Limits) -> None:
    if k <= 0:
        raise InvalidArgumentError(f"k must be at least 1, got {k}")
    if k > limits.max_k:
        raise LimitExceededError(f"k is {k}; the server allows at most {limits.max_k}")


def check_min_score(min_score: float | None, *, bounded: bool = False) -> None:
    """Not NaN; ``bounded``: also within [-1, 1], where every score of a pair lies."""
    if min_score is not None and math.isnan(min_score):
        raise InvalidArgumentError("min_score is NaN")
    if bounded and min_score is not None and not -1.0 <= min_score <= 1.0:
        raise InvalidArgumentError(f"min_score must lie in [-1, 1], got {min_score}")


def check_top_m(top_m: int, limits: Limits) -> None:
    """Neighbours per document: 1..max_k."""
    if top_m <= 0:
        raise InvalidArgumentError(f"top_m must be at least 1 (or 0 for the default), got {top_m}")
    if top_m > limits.max_k:
        raise LimitExceededError(f"top_m is {top_m}; the server allows at most {limits.max_k}")


def check_vectors(vectors: FloatArray, dimension: int, limits: Limits) -> None:
    """Query vectors: ``(n, dimension)``, finite, not all zero."""
    if vectors.ndim != 2:
        raise InvalidArgumentError(f"vectors must be 2-D (n, d); got shape {vectors.shape}")
    check_batch("vectors", vectors.shape[0], limits)
    if vectors.shape[1] != dimension:
        raise InvalidArgumentError(
            f"vectors have dimension {vectors.shape[1]}; this collection has dimension {dimension}"
        )
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if bad.size:
        raise InvalidArgumentError(f"vectors[{int(bad[0])}] contains NaN or infinity")
    zero = np.flatnonzero(~vectors.any(axis=1))
    if zero.size:
        raise InvalidArgumentError(f"vectors[{int(zero[0])}] is all zeros and has no direction")


def check_filter(filter: Mapping[str, Any] | None, limits: Limits) -> None:
    """Equality filters: at most ``limits.max_filter_keys`` string keys, scalar values, no NUL
    in a key or a string (metadata cannot hold one)."""
    if filter is not None and not isinstance(filter, Mapping):
        raise InvalidArgumentError("filter must be a mapping of metadata keys to values")
    if filter is not None and len(filter) > limits.max_filter_keys:
        raise LimitExceededError(
            f"the filter has {len(filter):,} keys; the server accepts at most "
            f"{limits.max_filter_keys} (max_filter_keys)"
        )
    for key, value in (filter or {}).items():
        if not isinstance(key, str):
            raise InvalidArgumentError(f"filter key {quoted(repr(key))} is not a string")
        if not isinstance(value, (str, int, float, bool, type(None))):
            raise InvalidArgumentError(
                f"filter[{quoted(key)}] is a {type(value).__name__}; filters compare scalar "
                "values (string, number, boolean, null)"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidArgumentError(f"filter[{quoted(key)}] is not a finite number")
        _check_no_nul(f"filter key {quoted(key)}", key)
        _check_no_nul(f"filter[{quoted(key)}]", value)


def check_maxsim(options: MaxSimOptions) -> None:
    """Known direction and token selection; alpha, when given, a number in [0, 1]."""
    if not isinstance(options.direction, MaxSimDirection):
        raise InvalidArgumentError(f"unknown MaxSim direction {options.direction!r}")
    if not isinstance(options.tokens, TokenSelection):
        raise InvalidArgumentError(f"unknown token selection {options.tokens!r}")
    alpha = options.alpha
    if alpha is not None and not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise InvalidArgumentError(f"alpha must be a number in [0, 1], got {alpha}")


def check_rerank(rerank: RerankOptions, depth: int, k: int, limits: Limits) -> None:
    """The rerank depth (``depth``, the request's or the default) lies in k..max_rerank_depth."""
    check_maxsim(rerank.maxsim)
    if rerank.depth < 0:
        raise InvalidArgumentError(f"rerank depth must be positive, got {rerank.depth}")
    if depth < k:
        raise InvalidArgumentError(f"rerank depth {depth} is below k={k}: it must be at least k")
    if depth > limits.max_rerank_depth:
        raise InvalidArgumentError(
            f"rerank depth {depth} is over the server's maximum of {limits.max_rerank_depth}"
        )


def check_rerank_ids(field: str, ids: Sequence[str], limits: Limits) -> None:
    """Ids to rerank: 1..max_rerank_depth valid ids."""
    if not ids:
        raise InvalidArgumentError(f"{field} is empty: send at least one id to rerank")
    if len(ids) > limits.max_rerank_depth:
        raise LimitExceededError(
            f"{field} has {len(ids)} ids; the server reranks at most {limits.max_rerank_depth}"
        )
    for i, doc_id in enumerate(ids):
        _check_id(f"{field}[{i}]", doc_id)


def check_search_params(params: SearchParams | None, k: int) -> None:
    """Index parameters, when given, are positive; efSearch is at least k."""
    if params is None:
        return
    if params.ef_search is not None and params.ef_search < max(k, 1):
        raise InvalidArgumentError(f"ef_search must be at least k ({k}), got {params.ef_search}")
    if params.nprobe is not None and params.nprobe <= 0:
        raise InvalidArgumentError(f"nprobe must be positive, got {params.nprobe}")
