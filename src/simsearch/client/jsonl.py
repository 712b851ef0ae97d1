"""Documents from JSON Lines: one ``{"id": ..., "text": ..., "metadata": {...}}`` per line.

The whole input is checked before anything is returned, so a caller can refuse to send any of
it when one line is wrong, and every problem is reported at once as ``SOURCE:LINE: reason``
(the first ``max_problems`` of them). Blank lines are skipped; a UTF-8 byte-order mark on the
first line is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from simsearch.client.convert import document_from_mapping, json_kind
from simsearch.errors import InvalidArgumentError
from simsearch.types import Document

__all__ = ["JsonlError", "read_documents"]


class JsonlError(InvalidArgumentError):
    """Malformed lines. ``problems`` holds ``(line number, reason)``, first to last."""

    def __init__(self, source: str, problems: list[tuple[int, str]], total: int) -> None:
        self.source = source
        self.problems = tuple(problems)
        self.total = total
        lines = [f"{source}:{line}: {reason}" for line, reason in problems]
        if total > len(problems):
            lines.append(f"{source}: {total - len(problems)} more malformed lines not shown")
        super().__init__("\n".join(lines))


def read_documents(
    lines: Iterable[bytes], source: str, *, max_problems: int = 20
) -> list[Document]:
    """Parse every line; raise ``JsonlError`` listing the malformed ones, if any."""
    documents: list[Document] = []
    first_line: dict[str, int] = {}  # id -> line it first appeared on
    problems: list[tuple[int, str]] = []
    total = 0
    for number, raw in enumerate(lines, start=1):
        try:
            document = _parse_line(raw, number)
            if document is None:
                continue
            _check_document(document, number, first_line)
            documents.append(document)
        except InvalidArgumentError as exc:
            total += 1
            if len(problems) < max_problems:
                problems.append((number, str(exc)))
    if total:
        raise JsonlError(source, problems, total)
    return documents


def _parse_line(raw: bytes, number: int) -> Document | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgumentError(
            f"not UTF-8: byte {exc.start + 1} is {raw[exc.start]:#04x}"
        ) from None
    if number == 1:
        text = text.removeprefix("\ufeff")
    if not text.strip():
        return None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise InvalidArgumentError(f"not valid JSON: {_json_reason(exc)}") from None
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"expected a JSON object, got {json_kind(value)}")
    return document_from_mapping(value)


def _check_document(document: Document, number: int, first_line: dict[str, int]) -> None:
    if not document.id.strip():
        raise InvalidArgumentError("'id' is empty")
    if not document.text.strip():
        raise InvalidArgumentError(f"'text' of {document.id!r} is empty")
    if document.id in first_line:
        line = first_line[document.id]
        raise InvalidArgumentError(f"duplicate id {document.id!r} (first on line {line})")
    first_line[document.id] = number


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (column {exc.colno})"
    return str(exc)
