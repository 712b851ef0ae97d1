"""Request options on the wire: pooling, MaxSim, rerank and index search parameters.

The enum tables are written once, here. An UNSPECIFIED wire value means the default (POOLER,
SYMMETRIC, ALL); a value outside a table (a newer peer's, or a hand-built message) is refused
with InvalidArgumentError naming the known values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from simsearch.errors import InvalidArgumentError
from simsearch.types import (
    MaxSimDirection,
    MaxSimOptions,
    Pooling,
    RerankOptions,
    SearchParams,
    TokenSelection,
)
from simsearch.v1 import simsearch_pb2 as pb

_T = TypeVar("_T")

__all__ = [
    "maxsim_from_wire",
    "maxsim_to_wire",
    "pooling_from_wire",
    "pooling_or_none_from_wire",
    "pooling_to_wire",
    "poolings_from_wire",
    "rerank_from_wire",
    "rerank_to_wire",
    "search_params_from_wire",
    "search_params_to_wire",
]

_POOLINGS: dict[Pooling, pb.Pooling.ValueType] = {
    Pooling.POOLER: pb.POOLING_POOLER,
    Pooling.CLS: pb.POOLING_CLS,
    Pooling.MEAN: pb.POOLING_MEAN,
}
_DIRECTIONS: dict[MaxSimDirection, pb.MaxSimDirection.ValueType] = {
    MaxSimDirection.SYMMETRIC: pb.MAXSIM_DIRECTION_SYMMETRIC,
    MaxSimDirection.QUERY_TO_DOCUMENT: pb.MAXSIM_DIRECTION_QUERY_TO_DOCUMENT,
    MaxSimDirection.DOCUMENT_TO_QUERY: pb.MAXSIM_DIRECTION_DOCUMENT_TO_QUERY,
}
_TOKEN_SELECTIONS: dict[TokenSelection, pb.TokenSelection.ValueType] = {
    TokenSelection.ALL: pb.TOKEN_SELECTION_ALL,
    TokenSelection.NO_SPECIAL: pb.TOKEN_SELECTION_NO_SPECIAL,
    TokenSelection.WORDS: pb.TOKEN_SELECTION_WORDS,
}
_FROM_POOLING: dict[int, Pooling] = {wire: pooling for pooling, wire in _POOLINGS.items()}
_FROM_DIRECTION: dict[int, MaxSimDirection] = {wire: d for d, wire in _DIRECTIONS.items()}
_FROM_TOKENS: dict[int, TokenSelection] = {wire: t for t, wire in _TOKEN_SELECTIONS.items()}


def pooling_to_wire(pooling: Pooling) -> pb.Pooling.ValueType:
    return _POOLINGS[pooling]


def _from_wire(value: int, table: Mapping[int, _T], default: _T, unknown: str) -> _T:
    """The option an enum value names: 0 (UNSPECIFIED) is ``default``; a value not in
    ``table`` is INVALID_ARGUMENT, ``unknown`` naming the choices."""
    if value == 0:
        return default
    try:
        return table[value]
    except KeyError:
        raise InvalidArgumentError(unknown) from None


def pooling_from_wire(value: int) -> Pooling:
    """The pooling a wire value names; UNSPECIFIED is the default, POOLER."""
    return _from_wire(
        value,
        _FROM_POOLING,
        Pooling.POOLER,
        f"unknown pooling {value}: use POOLING_POOLER, POOLING_CLS or POOLING_MEAN",
    )


def pooling_or_none_from_wire(value: int) -> Pooling | None:
    """As :func:`pooling_from_wire`, but UNSPECIFIED is None: the engine then picks (a
    collection's pooling when the request names one, else POOLER)."""
    return pooling_from_wire(value) if value else None


def poolings_from_wire(values: Iterable[int]) -> tuple[Pooling, ...]:
    """The poolings a list names, leaving out values unknown here (a newer server's)."""
    return tuple(_FROM_POOLING[value] for value in values if value in _FROM_POOLING)


def maxsim_to_wire(options: MaxSimOptions) -> pb.MaxSim:
    wire = pb.MaxSim(
        direction=_DIRECTIONS[options.direction], tokens=_TOKEN_SELECTIONS[options.tokens]
    )
    if options.alpha is not None:
        wire.alpha = options.alpha
    return wire


def maxsim_from_wire(message: pb.MaxSim) -> MaxSimOptions:
    direction = _from_wire(
        message.direction,
        _FROM_DIRECTION,
        MaxSimDirection.SYMMETRIC,
        f"unknown MaxSim direction {message.direction}: use SYMMETRIC, QUERY_TO_DOCUMENT or "
        "DOCUMENT_TO_QUERY",
    )
    tokens = _from_wire(
        message.tokens,
        _FROM_TOKENS,
        TokenSelection.ALL,
        f"unknown token selection {message.tokens}: use ALL, NO_SPECIAL or WORDS",
    )
    alpha = message.alpha if message.HasField("alpha") else None
    return MaxSimOptions(direction=direction, tokens=tokens, alpha=alpha)


def rerank_to_wire(options: RerankOptions) -> pb.Rerank:
    return pb.Rerank(
        depth=options.depth,
        maxsim=maxsim_to_wire(options.maxsim),
        cross_encoder=options.cross_encoder,
    )


def rerank_from_wire(message: pb.Rerank) -> RerankOptions:
    return RerankOptions(
        depth=message.depth,
        maxsim=maxsim_from_wire(message.maxsim),
        cross_encoder=message.cross_encoder,
    )


def search_params_to_wire(params: SearchParams) -> pb.SearchParams:
    return pb.SearchParams(ef_search=params.ef_search, nprobe=params.nprobe)


def search_params_from_wire(message: pb.SearchParams) -> SearchParams:
    return SearchParams(
        ef_search=message.ef_search if message.HasField("ef_search") else None,
        nprobe=message.nprobe if message.HasField("nprobe") else None,
    )
