"""Parsing of command-line values that argparse cannot express by itself."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from simsearch.client.convert import json_kind
from simsearch.config import API_KEY_ENV, client_api_key

__all__ = [
    "UsageError",
    "add_security_options",
    "build_filter",
    "connection_security",
    "filter_item",
    "non_negative_float",
    "parse_value",
    "positive_int",
    "text_pairs",
]


class UsageError(Exception):
    """A command line that parses but cannot be run as given (exit code 2)."""


def parse_value(raw: str) -> Any:
    """``raw`` as JSON when it parses (``2012``, ``true``, ``null``, ``"2012"``), else as is."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        return raw


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity stay strings


def filter_item(text: str) -> tuple[str, Any]:
    """argparse type of ``--filter KEY=VALUE``: the key and the value parsed by parse_value."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    value = parse_value(raw)
    if isinstance(value, (dict, list)):
        raise argparse.ArgumentTypeError(
            f"{key}: filter values are strings, numbers, booleans or null, not {json_kind(value)}"
        )
    return key, value


def build_filter(items: Sequence[tuple[str, Any]] | None) -> dict[str, Any] | None:
    """The filter mapping from repeated ``--filter`` items; a key given twice is an error."""
    if not items:
        return None
    result: dict[str, Any] = {}
    for key, value in items:
        if key in result:
            raise UsageError(f"--filter {key} given twice: a document has one value per key")
        result[key] = value
    return result


def text_pairs(texts: Sequence[str]) -> list[tuple[str, str]]:
    """``A B C D`` -> ``[(A, B), (C, D)]``; an odd count is an error."""
    if len(texts) % 2:
        raise UsageError(f"compare takes texts in pairs (A B [A B ...]), got {len(texts)} texts")
    return list(zip(texts[::2], texts[1::2], strict=True))


def positive_int(text: str) -> int:
    """argparse type of a count that must be at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type of a duration in seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def add_security_options(
    group: argparse._ArgumentGroup, default: Callable[[object], object]
) -> None:
    """--api-key-file, --tls, --tls-ca, --tls-cert, --tls-key (``default`` as for --address).

    The key itself is never an option: a command line shows in ``ps`` and shell history."""
    group.add_argument(
        "--api-key-file",
        default=default(None),
        metavar="PATH",
        help=f"file holding the API key to send (default: ${API_KEY_ENV}, the key itself)",
    )
    group.add_argument(
        "--tls",
        action="store_true",
        default=default(False),
        help="use TLS, trusting the system's CAs (implied by --tls-ca/--tls-cert)",
    )
    for name, what in (
        ("ca", "CA certificate that signed the server's certificate"),
        ("cert", "client certificate, for mutual TLS"),
        ("key", "key of --tls-cert"),
    ):
        group.add_argument(f"--tls-{name}", default=default(None), metavar="PEM", help=what)


def connection_security(args: argparse.Namespace) -> dict[str, Any]:
    """The Client keyword arguments for the API key and TLS options in ``args``."""
    return {
        "api_key": _api_key(args.api_key_file),
        "tls": args.tls,
        "tls_ca": args.tls_ca,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
    }


def _api_key(path: str | None) -> str | None:
    """The key in ``path`` (surrounding whitespace dropped), else the environment's, else None."""
    if path is None:
        return client_api_key()
    # The value is not echoed: `--api-key SECRET` abbreviates to this option.
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"--api-key-file: cannot read the file ({exc.__class__.__name__}); give the path "
            f"of a file holding the key, or set ${API_KEY_ENV}"
        ) from None
    if not key:
        raise UsageError("--api-key-file: the file is empty")
    return key
