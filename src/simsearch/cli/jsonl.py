"""Documents as JSON Lines: one ``{"id": ..., "text": ..., "metadata": {...}}`` per line, the
format ``simsearch upsert`` reads and ``simsearch export`` writes.

Reading checks the whole input before anything is returned, so a caller can refuse to send
any of it when one line is wrong, and reports every problem at once as ``SOURCE:LINE: reason``
(the first ``max_problems`` of them). Blank lines are skipped; a UTF-8 byte-order mark on the
first line is ignored. ``check_documents`` then runs the server's own checks of each document
(the engine's validator, with the server's limits): what the client can know before sending.
Only the length of a text in tokens is left to the server, which alone has the tokenizer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from simsearch.client.shaping import document_from_mapping, json_kind
from simsearch.engine import validation
from simsearch.errors import InvalidArgumentError, SimsearchError
from simsearch.types import Document, Limits

__all__ = ["JsonlError", "LinedDocuments", "check_documents", "read_documents", "write_document"]


class JsonlError(InvalidArgumentError):
    """Malformed lines. ``problems`` holds ``(line number, reason)``, first to last."""

    def __init__(self, source: str, problems: Sequence[tuple[int, str]], total: int) -> None:
        self.source = source
        self.problems = tuple(problems)
        self.total = total
        lines = [f"{source}:{line}: {reason}" for line, reason in problems]
        if total > len(problems):
            lines.append(f"{source}: {total - len(problems)} more malformed lines not shown")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class LinedDocuments:
    """The documents of a file and, for each, the line it is on."""

    source: str
    documents: list[Document]
    lines: list[int]

    def where(self, index: int) -> str:
        """``docs.jsonl:400 (id 'long1')``: where ``documents[index]`` came from."""
        return f"{self.source}:{self.lines[index]} (id {self.documents[index].id!r})"


class _Problems:
    """Problems found so far, kept up to a count; raises them all at the end."""

    def __init__(self, source: str, max_problems: int) -> None:
        self.source = source
        self.max_problems = max_problems
        self.listed: list[tuple[int, str]] = []
        self.total = 0

    def add(self, line: int, reason: str) -> None:
        self.total += 1
        if len(self.listed) < self.max_problems:
            self.listed.append((line, reason))

    def raise_any(self) -> None:
        if self.total:
            raise JsonlError(self.source, self.listed, self.total)


def read_documents(
    lines: Iterable[bytes], source: str, *, max_problems: int = 20
) -> LinedDocuments:
    """Parse every line; raise ``JsonlError`` listing the malformed ones, if any.

    A line must be a JSON object with "id" and "text" (strings) and an optional "metadata"
    object; an id may appear once in the file (a later line would silently replace it)."""
    documents: list[Document] = []
    numbers: list[int] = []
    first_line: dict[str, int] = {}  # id -> line it first appeared on
    problems = _Problems(source, max_problems)
    for number, raw in enumerate(lines, start=1):
        try:
            document = _parse_line(raw, number)
        except InvalidArgumentError as exc:
            problems.add(number, str(exc))
            continue
        if document is None:
            continue
        if document.id in first_line:
            problems.add(
                number, f"duplicate id {document.id!r} (first on line {first_line[document.id]})"
            )
            continue
        first_line[document.id] = number
        documents.append(document)
        numbers.append(number)
    problems.raise_any()
    return LinedDocuments(source, documents, numbers)


def check_documents(read: LinedDocuments, limits: Limits, *, max_problems: int = 20) -> None:
    """Each document as the server will check it (id, text, metadata, within ``limits``);
    raise ``JsonlError`` listing the documents it would refuse."""
    problems = _Problems(read.source, max_problems)
    for document, line in zip(read.documents, read.lines, strict=True):
        try:
            validation.check_documents([document], limits)
        except SimsearchError as exc:
            reason = str(exc).removeprefix("documents[0]").removeprefix(".")
            problems.add(line, f"{reason} (id {document.id!r})" if document.id else reason)
    problems.raise_any()


def _parse_line(raw: bytes, number: int) -> Document | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgumentError(
            f"not UTF-8: byte {exc.start + 1} is {raw[exc.start]:#04x}"
        ) from None
    if number == 1:
        text = text.removeprefix("\ufeff")
    # Without its line break, an error at the end of the line is placed on this line, not at
    # column 1 of the next one.
    text = text.rstrip("\r\n")
    if not text.strip():
        return None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise InvalidArgumentError(f"not valid JSON: {_json_reason(exc)}") from None
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"expected a JSON object, got {json_kind(value)}")
    return document_from_mapping(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (column {exc.colno})"
    return str(exc)


def write_document(document: Document, out: IO[str]) -> None:
    """One line of JSONL, as ``read_documents`` reads it back."""
    line = {"id": document.id, "text": document.text, "metadata": document.metadata}
    out.write(json.dumps(line, ensure_ascii=False) + "\n")
