"""``simsearch mine NAME``: pairs of similar documents, from the stored vectors, as JSON Lines
or CSV.

Without ``--target`` it mines paraphrases within the collection (each unordered pair once);
with one it pairs each document of NAME with its best matches in the target. Pairs come in
the server's stable order (by a, then descending score, then b), one per line: JSON Lines
``{"a", "b", "score", "sentence_score"[, "maxsim_score"]}``, or CSV with a header row and
the ids always quoted (an id such as ``007`` stays text in a spreadsheet). A progress bar on
stderr follows the documents gone through. A run cut short (an error, Ctrl-C) keeps what was
written, whole lines, and says how many pairs and the last document they reach.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO, Any, Protocol

import click

from simsearch.cli.connection import with_client
from simsearch.cli.failure import stopped_partway
from simsearch.cli.options import FILTER, POSITIVE, build_filter, maxsim_options
from simsearch.cli.output import emit, opened_output, progress_bar
from simsearch.client.client import Client
from simsearch.types import ScoredPair

__all__ = ["CSV_COLUMNS", "mine"]

CSV_COLUMNS = ("a", "b", "score", "sentence_score", "maxsim_score")


class _Writer(Protocol):
    def write(self, pair: ScoredPair) -> None: ...


class _JsonLines:
    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def write(self, pair: ScoredPair) -> None:
        self._out.write(json.dumps(pair_json(pair), ensure_ascii=False) + "\n")


class _Csv:
    """A header row, then one row per pair; strings quoted, numbers not (an empty
    maxsim_score when MaxSim did not run)."""

    def __init__(self, out: IO[str]) -> None:
        self._rows = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        csv.writer(out, lineterminator="\n").writerow(CSV_COLUMNS)

    def write(self, pair: ScoredPair) -> None:
        maxsim = "" if pair.maxsim_score is None else pair.maxsim_score
        self._rows.writerow([pair.a, pair.b, pair.score, pair.sentence_score, maxsim])


def pair_json(pair: ScoredPair) -> dict[str, Any]:
    """A pair as one JSON Lines record."""
    record: dict[str, Any] = {
        "a": pair.a,
        "b": pair.b,
        "score": pair.score,
        "sentence_score": pair.sentence_score,
    }
    if pair.maxsim_score is not None:
        record["maxsim_score"] = pair.maxsim_score
    return record


@click.command(
    help="write pairs of similar documents of collection NAME, from its stored vectors (no "
    "re-encoding): paraphrase mining within NAME (each pair once), or with --target the best "
    "matches in another collection of each document of NAME; JSON Lines or CSV, to stdout or "
    "--output, in order by a, then descending score, then b",
    short_help="write pairs of similar documents (paraphrase mining, pairing)",
)
@click.argument("name", metavar="NAME")
@click.option(
    "--target", metavar="OTHER", help="pair NAME's documents with this collection's instead"
)
@click.option(
    "--top-m",
    type=POSITIVE,
    default=10,
    show_default=True,
    help="neighbours looked at per document (at most the server's max_k)",
)
@click.option(
    "--min-score", type=float, metavar="S", help="keep pairs scoring at least S, in [-1, 1]"
)
@click.option(
    "--filter",
    "filters",
    type=FILTER,
    multiple=True,
    help="only documents whose metadata KEY equals VALUE take part, on both sides (as for "
    "search); repeat to require several",
)
@click.option(
    "--maxsim",
    is_flag=True,
    help="rescore each pair by MaxSim over token embeddings (score is then MaxSim, or the "
    "hybrid with --alpha)",
)
@maxsim_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="JSON Lines, or CSV with a header row",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="file to write [default: stdout]; the summary then goes to stdout",
)
@with_client
def mine(
    client: Client,
    as_json: bool,
    name: str,
    target: str | None,
    filters: tuple[tuple[str, Any], ...],
    output_format: str,
    output: Path | None,
    **options: Any,
) -> None:
    pairs = client.mine_pairs(name, target, filter=build_filter(filters), **options)
    written, last, done = 0, "", 0
    what = f"pairing {name!r} with {target!r}" if target else f"mining {name!r}"
    with (
        opened_output(output) as out,
        progress_bar() as bar,
        pairs,
        stopped_partway(lambda why: _stopped(why, written, last)),
    ):
        writer: _Writer = _Csv(out) if output_format == "csv" else _JsonLines(out)
        task = bar.add_task(what, total=None)
        for chunk, done, total in pairs.chunks():
            for pair in chunk:
                writer.write(pair)
            written, last = written + len(chunk), chunk[-1].a if chunk else last
            bar.update(task, completed=done, total=max(total, done))
    if output is not None:  # stdout holds the pairs otherwise
        emit(
            as_json,
            lambda: {
                "collection": name,
                "target": target,
                "pairs": written,
                "documents": done,
                "output": str(output),
            },
            lambda: f"wrote {_pairs(written)} ({done:,} documents gone through) to {output}",
        )


def _pairs(count: int) -> str:
    return f"{count:,} pair{'s' * (count != 1)}"


def _stopped(why: str, written: int, last: str) -> str:
    if not written:
        return f"{why}; no pair was written"
    return (
        f"{why}; {_pairs(written)} written, the last under document {last!r} (its pairs may "
        "be incomplete)"
    )
