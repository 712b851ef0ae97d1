"""What ``Client`` accepts, shaped into the plain types the codec (``simsearch.wire``) sends.

A caller may pass a single string for a batch of one, a mapping for a ``Document``, "cls" for
``Pooling.CLS``, any numeric array for query vectors. Each function here turns such an argument
into the type the wire functions take, or raises ``InvalidArgumentError`` before anything is
sent. Whether the values are valid (sizes, limits, names) is the server's check.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.errors import InvalidArgumentError
from simsearch.types import (
    Calibration,
    CalibrationKind,
    Document,
    FloatArray,
    MaxSimDirection,
    MaxSimOptions,
    Pooling,
    StoredIds,
    TokenSelection,
)

__all__ = [
    "as_batch",
    "document_batches",
    "document_from_mapping",
    "json_kind",
    "maxsim_options",
    "parse_calibration",
    "parse_pooling",
    "query_vectors",
    "search_queries",
    "text_pairs",
]

_DOCUMENT_KEYS = ("id", "text", "metadata")


def parse_pooling(value: Pooling | str) -> Pooling:
    """``Pooling`` from itself or its value ("pooler", "cls", "mean"; any case)."""
    try:
        return Pooling(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        choices = ", ".join(repr(p.value) for p in Pooling)
        raise InvalidArgumentError(f"unknown pooling {value!r}; use one of {choices}") from None


def parse_calibration(
    value: Calibration | CalibrationKind | str | None, dimensions: int = 0
) -> Calibration:
    """``Calibration`` from itself, or from its kind (or the kind's value: "none", "center",
    "whiten"; any case) and ``dimensions``; None is none."""
    if isinstance(value, Calibration):
        if dimensions:
            raise InvalidArgumentError(
                "give calibration_dimensions inside the Calibration, not beside it"
            )
        return value
    if value is None:
        return Calibration(CalibrationKind.NONE, dimensions)
    try:
        kind = CalibrationKind(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        choices = ", ".join(repr(k.value) for k in CalibrationKind)
        raise InvalidArgumentError(f"unknown calibration {value!r}; use one of {choices}") from None
    return Calibration(kind, dimensions)


def maxsim_options(
    direction: MaxSimDirection | str | None,
    tokens: TokenSelection | str | None,
    alpha: float | None,
) -> MaxSimOptions:
    """MaxSim options from enums or their values (None: the default)."""
    try:
        return MaxSimOptions(
            direction=MaxSimDirection(direction or MaxSimDirection.SYMMETRIC),
            tokens=TokenSelection(tokens or TokenSelection.ALL),
            alpha=alpha,
        )
    except ValueError as exc:
        raise InvalidArgumentError(
            f"{exc}: directions are {', '.join(d.value for d in MaxSimDirection)}; token "
            f"selections are {', '.join(t.value for t in TokenSelection)}"
        ) from None


def as_batch(values: str | Sequence[str], field: str) -> list[str]:
    """A batch of strings; a single string is a batch of one."""
    if isinstance(values, str):
        return [values]
    batch = list(values)
    for i, value in enumerate(batch):
        if not isinstance(value, str):
            raise InvalidArgumentError(f"{field}[{i}] is {type(value).__name__}, expected str")
    return batch


def text_pairs(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs as tuples; each must be a sequence of exactly two strings."""
    shaped = []
    for i, pair in enumerate(pairs):
        if isinstance(pair, str) or len(pair) != 2 or not all(isinstance(t, str) for t in pair):
            raise InvalidArgumentError(f"pairs[{i}] must be a pair of two texts (a, b)")
        shaped.append((pair[0], pair[1]))
    return shaped


def query_vectors(queries: npt.ArrayLike) -> FloatArray:
    """Query vectors as ``(n, d) float32``; a single ``(d,)`` vector becomes ``(1, d)``."""
    array = np.asarray(queries)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise InvalidArgumentError(f"query vectors must be numbers, got dtype {array.dtype}")
    vectors = array.astype(np.float32, copy=False)
    if vectors.ndim == 1:
        vectors = vectors.reshape(1, -1)
    if vectors.ndim != 2:
        raise InvalidArgumentError(
            f"query vectors must have shape (d,) or (n, d), got {list(vectors.shape)}"
        )
    return vectors


def search_queries(
    queries: str | Sequence[str] | npt.ArrayLike | None, ids: str | Sequence[str] | None
) -> Sequence[str] | FloatArray | StoredIds:
    """A search's queries: texts, vectors (a numpy array, see :func:`query_vectors`) or
    stored ids; exactly one of ``queries`` and ``ids``."""
    if queries is not None and ids is not None:
        raise InvalidArgumentError("give either queries (texts or vectors) or ids, not both")
    if queries is None and ids is None:
        raise InvalidArgumentError("give queries (texts or vectors) or ids")
    if ids is not None:
        return StoredIds(tuple(as_batch(ids, "ids")))
    if isinstance(queries, np.ndarray):
        return query_vectors(queries)
    return as_batch(queries, "queries")  # type: ignore[arg-type]


def document_from_mapping(value: Document | Mapping[str, Any]) -> Document:
    """A ``Document`` from itself or a mapping with "id", "text" and optional "metadata".

    Raises InvalidArgumentError with the reason only; callers add where the value came from.
    """
    if isinstance(value, Document):
        return value
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"expected a document or a mapping, got {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in _DOCUMENT_KEYS)
    if unknown:
        raise InvalidArgumentError(f"unknown keys {unknown}; a document has id, text, metadata")
    for key in ("id", "text"):
        if key not in value:
            raise InvalidArgumentError(f"missing {key!r}")
        if not isinstance(value[key], str):
            raise InvalidArgumentError(f"{key!r} must be a string, got {json_kind(value[key])}")
    metadata = value.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidArgumentError(f"'metadata' must be an object, got {json_kind(metadata)}")
    return Document(value["id"], value["text"], dict(metadata or {}))


def json_kind(value: Any) -> str:
    """What a JSON value is, for messages: "a string", "an array", "null" ..."""
    if value is None:
        return "null"
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    kinds.update({list: "an array", dict: "an object"})
    return kinds.get(type(value), type(value).__name__)


def document_batches(
    documents: Iterable[Document | Mapping[str, Any]], size: int
) -> Iterator[list[Document]]:
    """Lists of at most ``size`` documents; a bad item raises naming ``documents[i]``."""
    batch: list[Document] = []
    for i, item in enumerate(documents):
        try:
            batch.append(document_from_mapping(item))
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"documents[{i}]: {exc}") from None
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
