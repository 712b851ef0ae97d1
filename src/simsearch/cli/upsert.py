"""``simsearch upsert NAME FILE``: a bulk upsert from JSON Lines, over one UpsertStream.

Before sending anything, the whole file is read and each document checked as the server will
check it (``jsonl``); only a text's length in tokens is left to the server. The server commits
chunk by chunk, in order: when a chunk fails, the error is placed on its file line and id, and
the documents before it stay committed. Upsert replaces by id, so running the same command
again is always safe. The first Ctrl-C stops sending and waits for the server to say how many
documents it committed; a second one abandons the call.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from simsearch.cli import json_output, render
from simsearch.cli.connection import with_client
from simsearch.cli.failure import CommandError, bad_input, status_prefix
from simsearch.cli.jsonl import JsonlError, LinedDocuments, check_documents, read_documents
from simsearch.cli.options import POSITIVE, truncate_option
from simsearch.cli.output import emit, progress_bar
from simsearch.client.client import Client
from simsearch.client.results import UpsertResult
from simsearch.client.rpc import ServerUnreachableError
from simsearch.errors import SimsearchError
from simsearch.types import Document

__all__ = ["upsert"]

_RERUN = "upsert replaces documents by id, so running the same command again is safe"


@click.command(
    help='insert or replace documents from a JSONL file, one {"id": ..., "text": ..., '
    '"metadata": {...}} per line (metadata optional). Before anything is sent, every line is '
    "checked as the server checks it (JSON, id present, unique in the file, at most 512 "
    "characters and without U+0000, text with something to embed and within the server's "
    "character limit, metadata a JSON object): if one is wrong, nothing is sent. Only a "
    "text's length in tokens is known to the server alone: such an error names the line and "
    "the id, and the documents before its chunk stay committed.",
    short_help="insert or replace documents from a JSONL file",
)
@click.argument("name", metavar="NAME")
@click.argument("file", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--batch-size",
    type=POSITIVE,
    default=256,
    show_default=True,
    metavar="N",
    help="documents per chunk of the upload stream",
)
@truncate_option("texts")
@with_client
def upsert(
    client: Client, as_json: bool, name: str, file: str, batch_size: int, truncate: bool
) -> None:
    stop = _StopRequest()
    try:
        read = _read_file(file)  # a Ctrl-C here ends the command: nothing was sent
        with stop.on_ctrl_c():
            check_documents(read, client.info().limits)
            started = time.perf_counter()
            result = _send(client, name, read, stop, batch_size=batch_size, truncate=truncate)
            seconds = time.perf_counter() - started
    except JsonlError as exc:
        raise CommandError(f"{exc}\nerror: malformed input; nothing was upserted", 2) from None
    if stop.requested.is_set():
        raise CommandError(_interrupted(result.upserted, read), 130)
    emit(
        as_json,
        lambda: json_output.upsert_json(name, result, seconds),
        lambda: render.upsert_summary(name, result, seconds),
    )


def _send(
    client: Client,
    name: str,
    read: LinedDocuments,
    stop: _StopRequest,
    *,
    batch_size: int,
    truncate: bool,
) -> UpsertResult:
    """Stream the documents with a progress bar; a failure names the line and id."""
    with progress_bar() as bar:
        task = bar.add_task(f"upserting into {name!r}", total=len(read.documents))
        try:
            return client.upsert_stream(
                name,
                stop.documents(read.documents),
                truncate=truncate,
                batch_size=batch_size,
                progress=lambda n: bar.advance(task, n),
            )
        except KeyboardInterrupt:
            raise CommandError(
                "interrupted: the documents sent so far may be committed in part; " + _RERUN, 130
            ) from None
        except ServerUnreachableError:
            raise
        except SimsearchError as exc:
            raise _placed(exc, read, batch_size) from None


def _read_file(path: str) -> LinedDocuments:
    """Every document of a JSONL file (``-``: stdin); JsonlError lists malformed lines."""
    if path == "-":
        return read_documents(sys.stdin.buffer, "<stdin>")
    try:
        with open(path, "rb") as lines:
            return read_documents(lines, path)
    except OSError as exc:
        raise bad_input(f"cannot read {path}: {exc.strerror or exc}") from None


class _StopRequest:
    """Ctrl-C while sending: stop feeding documents, let the server commit what it has."""

    def __init__(self) -> None:
        self.requested = threading.Event()

    def documents(self, documents: list[Document]) -> Iterator[Document]:
        """``documents`` until a stop is requested (read by gRPC's sending thread)."""
        for document in documents:
            if self.requested.is_set():
                return
            yield document

    @contextmanager
    def on_ctrl_c(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only
            return
        previous = signal.signal(signal.SIGINT, self._first)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _first(self, signum: int, frame: FrameType | None) -> None:
        self.requested.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the next one abandons
        click.echo(
            "stopping: waiting for the server to commit what was sent (Ctrl-C again to abandon)",
            err=True,
        )


def _interrupted(committed: int, read: LinedDocuments) -> str:
    return f"interrupted: {_committed(committed, read)}; {_RERUN}"


def _committed(committed: int, read: LinedDocuments) -> str:
    """``256 of 600 documents were committed (docs.jsonl lines 1-256)``: chunks commit in
    file order, so the committed documents are the first ones."""
    total = len(read.documents)
    text = f"{committed:,} of {total:,} documents were committed"
    if 0 < committed <= total:
        text += f" ({read.source} lines {read.lines[0]}-{read.lines[committed - 1]})"
    return text


# The server's message of a failed chunk: the index within the chunk, and how many documents
# the stream committed before it (``errors.with_committed``).
_INDEX = re.compile(r"\b(?:input |documents\[)(\d+)")
_COMMITTED = re.compile(r"\((\d+) documents were committed before\)")


def _placed(error: SimsearchError, read: LinedDocuments, batch_size: int) -> CommandError:
    """The server's error with the file line and id it is about, and what was committed."""
    message = str(error)
    committed_match = _COMMITTED.search(message)
    index_match = _INDEX.search(message)
    where = ""
    if committed_match and index_match:
        committed = int(committed_match.group(1))
        index = committed + int(index_match.group(1))
        # Chunks commit in order, so a failed chunk starts where the committed ones end.
        if committed % batch_size == 0 and index < len(read.documents):
            where = f"{read.where(index)}: "
    lines = [f"error: {status_prefix(error)}{where}{message}"]
    if committed_match:
        done = _committed(int(committed_match.group(1)), read)
        lines.append(f"{done}; fix the input (or pass --truncate) and run again: {_RERUN}")
    return CommandError("\n".join(lines))
