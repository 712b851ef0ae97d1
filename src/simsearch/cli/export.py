"""``simsearch export NAME``: every document of a collection as JSON Lines, the format
``simsearch upsert`` reads, so a collection can be read back and loaded again (into a new
collection, or after serving another model).

Documents come in id order. An export that stops part-way (an error, Ctrl-C) says how many
documents were written and the last id: ``--after-id`` resumes after it.
"""

from __future__ import annotations

from pathlib import Path

import click

from simsearch.cli.connection import with_client
from simsearch.cli.failure import stopped_partway
from simsearch.cli.jsonl import write_document
from simsearch.cli.output import emit, opened_output, progress_bar
from simsearch.cli.render import documents_count
from simsearch.client.client import Client

__all__ = ["export"]


@click.command(
    help="write every document of a collection as JSON Lines (id, text, metadata per line, "
    "as upsert reads them), in id order, to stdout or --output; works on a collection built "
    "with another model too",
    short_help="write a collection's documents as JSON Lines",
)
@click.argument("name", metavar="NAME")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="file to write [default: stdout]; the summary then goes to stdout",
)
@click.option("--after-id", default="", metavar="ID", help="start after this id (to resume)")
@with_client
def export(client: Client, as_json: bool, name: str, output: Path | None, after_id: str) -> None:
    total = client.describe_collection(name).count
    written, last = 0, after_id
    with (
        opened_output(output) as out,
        progress_bar() as bar,
        stopped_partway(lambda why: _stopped(why, written, last)),
    ):
        task = bar.add_task(f"exporting {name!r}", total=total)
        for document in client.export(name, after_id=after_id):
            write_document(document, out)
            written, last = written + 1, document.id
            bar.advance(task)
    if output is not None:  # stdout holds the documents otherwise
        text = f"exported {documents_count(written)} of {name!r} to {output}"
        emit(
            as_json,
            lambda: {"collection": name, "exported": written, "output": str(output)},
            lambda: text,
        )


def _stopped(why: str, written: int, last: str) -> str:
    if not written:
        return f"{why}; no document was written"
    return (
        f"{why}; {documents_count(written)} written, the last with id {last!r}: "
        f"--after-id {last!r} resumes after it"
    )
