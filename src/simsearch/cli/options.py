"""Options shared by several client commands, and the values click cannot parse by itself."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from simsearch.cli.failure import bad_input
from simsearch.client.shaping import json_kind
from simsearch.types import MaxSimDirection, Pooling, TokenSelection

__all__ = [
    "FILTER",
    "POSITIVE",
    "build_filter",
    "maxsim_options",
    "parse_value",
    "pooling_option",
    "stacked",
    "text_pairs",
    "truncate_option",
]

F = TypeVar("F", bound=Callable[..., Any])

POSITIVE = click.IntRange(min=1)


def parse_value(raw: str) -> Any:
    """``raw`` as JSON when it parses (``2012``, ``true``, ``null``, ``"2012"``), else as is."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        return raw


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity stay strings


class FilterItem(click.ParamType[tuple[str, Any]]):
    """``--filter KEY=VALUE`` (or ``KEY==VALUE``): equality of a metadata key, the value
    parsed by ``parse_value``. Anything else that looks like an operator is refused: a filter
    that silently matches nothing is worse than an error."""

    name = "KEY=VALUE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, Any]:
        if isinstance(value, tuple):
            return value
        key, sep, raw = str(value).partition("=")
        if not sep or not key:
            self.fail(f"expected KEY=VALUE, got {value!r}", param, ctx)
        if key[-1] in "!<>":
            self.fail(
                f"{value!r}: filters test equality only (KEY=VALUE); {key[-1]}= is not supported",
                param,
                ctx,
            )
        raw = raw.removeprefix("=")  # KEY==VALUE reads as equality too
        parsed = parse_value(raw)
        if isinstance(parsed, (dict, list)):
            self.fail(
                f"{key}: filter values are strings, numbers, booleans or null, not "
                f"{json_kind(parsed)}",
                param,
                ctx,
            )
        return key, parsed


FILTER = FilterItem()


def build_filter(items: Sequence[tuple[str, Any]]) -> dict[str, Any] | None:
    """The filter mapping from repeated ``--filter`` items; a key given twice is an error."""
    if not items:
        return None
    result: dict[str, Any] = {}
    for key, value in items:
        if key in result:
            raise bad_input(f"--filter {key} given twice: a document has one value per key")
        result[key] = value
    return result


def text_pairs(texts: Sequence[str]) -> list[tuple[str, str]]:
    """``A B C D`` -> ``[(A, B), (C, D)]``; an odd count is an error."""
    if len(texts) % 2:
        raise bad_input(f"compare takes texts in pairs (A B [A B ...]), got {len(texts)} texts")
    return list(zip(texts[::2], texts[1::2], strict=True))


def pooling_option(help: str) -> Callable[[F], F]:
    return click.option(
        "--pooling",
        type=click.Choice([pooling.value for pooling in Pooling]),
        default=Pooling.POOLER.value,
        show_default=True,
        help=help,
    )


def truncate_option(what: str) -> Callable[[F], F]:
    return click.option(
        "--truncate",
        is_flag=True,
        help=f"cut {what} longer than the model's maximum length instead of failing",
    )


def stacked(options: Sequence[Callable[[F], F]]) -> Callable[[F], F]:
    """One decorator applying ``options`` so that --help lists them in this order."""

    def decorate(function: F) -> F:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def maxsim_options(function: F) -> F:
    """--direction, --tokens, --alpha: MaxSim over token embeddings (each implies MaxSim)."""
    options = [
        click.option(
            "--direction",
            type=click.Choice([d.value for d in MaxSimDirection]),
            help="MaxSim: query_to_document, each query token's best match averaged "
            "(ColBERT); symmetric, the mean of both ways (default)",
        ),
        click.option(
            "--tokens",
            type=click.Choice([t.value for t in TokenSelection]),
            help="MaxSim: tokens taking part: all (default), no_special ([CLS]/[SEP] left "
            "out), words (no special tokens, no punctuation)",
        ),
        click.option(
            "--alpha",
            type=float,
            metavar="A",
            help="MaxSim: rank by the hybrid A * cosine + (1 - A) * MaxSim instead of MaxSim alone",
        ),
    ]
    return stacked(options)(function)
