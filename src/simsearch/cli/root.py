"""The ``simsearch`` command group and ``main``: the commands, their order in ``--help``,
and how failures become exit codes.

Exit codes: 0 done; 1 the call failed (the server's status and message are printed as
``error: STATUS: message``, or a hint when the server cannot be reached); 2 a usage error or
malformed input (nothing was sent); 130 interrupted. Results go to stdout, as text or, with
``--json``, one JSON document; errors, warnings and progress bars go to stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from simsearch import __version__
from simsearch.cli import collections, documents, encoding
from simsearch.cli.classify import classify
from simsearch.cli.connection import Connection, connection_options
from simsearch.cli.export import export
from simsearch.cli.failure import CommandError
from simsearch.cli.mining import mine
from simsearch.cli.serve import serve
from simsearch.cli.upsert import upsert

__all__ = ["main", "simsearch"]

_EPILOG = """\b
Run the server with `simsearch serve` (see `simsearch serve --help`).
Every command takes --address, --timeout and --json, before or after its name.

\b
examples:
  simsearch create demo --pooling mean
  simsearch upsert demo docs.jsonl
  simsearch search demo "where did the cat sit?" -k 5 --filter year=2012
  simsearch search demo "where did the cat sit?" --rerank --depth 50 --alpha 0.5
  simsearch compare "a cat sat" "the cat was sitting" --align --heatmap pair.png
  simsearch export demo --output demo.jsonl
"""


class _InOrder(click.Group):
    """Lists the commands in the order they were added (server, collections, documents,
    encoding), not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(
    cls=_InOrder,
    help="Semantic similarity search over gRPC: BERT embeddings, FAISS collections.",
    epilog=_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(
    __version__, "--version", prog_name="simsearch", message="%(prog)s %(version)s"
)
@connection_options(main=True)
@click.pass_context
def simsearch(context: click.Context, /, **options: Any) -> None:
    context.obj = Connection(**options)


for command in (
    serve,
    *collections.COMMANDS,
    upsert,
    *documents.COMMANDS,
    export,
    mine,
    *encoding.COMMANDS,
    classify,
):
    simsearch.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (``--help`` and usage errors included)."""
    try:
        code = simsearch.main(
            args=list(sys.argv[1:] if argv is None else argv),
            prog_name="simsearch",
            standalone_mode=False,
        )
    except (click.ClickException, CommandError) as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:  # Ctrl-C (click turns KeyboardInterrupt into Abort)
        click.echo("interrupted", err=True)
        return 130
    except BrokenPipeError:  # stdout closed early, as by `| head`: stop quietly
        _silence_stdout()
        return 1
    return code if isinstance(code, int) else 0


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
