"""Where output goes: results on stdout (text through rich, or one JSON document), progress
and warnings on stderr.

Text is laid out by rich (aligned columns, wide characters, "…" for cells cut to fit) at the
terminal's width, 120 columns when stdout is not a terminal, and written without trailing
spaces; styles appear only on a terminal.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from simsearch.cli.failure import bad_input

__all__ = ["emit", "opened_output", "plain_text", "progress_bar", "rendered", "warn"]

_FALLBACK_WIDTH = 120  # a pipe or a file: wide enough for a search table
_MIN_WIDTH = 60  # below this rich would drop columns rather than shorten them


def _console(*, width: int | None = None, styled: bool | None = None) -> Console:
    if width is None:
        width = shutil.get_terminal_size(fallback=(_FALLBACK_WIDTH, 24)).columns
    return Console(
        file=sys.stdout,
        width=max(width, _MIN_WIDTH),
        no_color=styled is False,
        color_system=None if styled is False else "auto",
        soft_wrap=False,
        markup=False,
        emoji=False,
        highlight=False,
    )


def rendered(
    renderable: RenderableType, *, width: int | None = None, styled: bool | None = None
) -> str:
    """``renderable`` as text, each line without trailing spaces."""
    console = _console(width=width, styled=styled)
    with console.capture() as captured:
        console.print(renderable, soft_wrap=True)  # a listing keeps a long value whole
    return "\n".join(line.rstrip() for line in captured.get().splitlines())


def plain_text(renderable: RenderableType, width: int = _FALLBACK_WIDTH) -> str:
    """``renderable`` as plain text (no styles) at ``width`` columns: what a pipe gets."""
    return rendered(renderable, width=width, styled=False)


def emit(as_json: bool, json_value: Callable[[], Any], text: Callable[[], RenderableType]) -> None:
    """Print one JSON document, or the text of a result."""
    if as_json:
        click.echo(json.dumps(json_value(), ensure_ascii=False))
    else:
        click.echo(rendered(text()))


def warn(message: str) -> None:
    """A warning on stderr, apart from the result on stdout."""
    click.echo(f"warning: {message}", err=True)


def progress_bar() -> Progress:
    """A progress bar on stderr, drawn only when stderr is a terminal and erased when done, so
    the summary that follows stands alone."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


@contextmanager
def opened_output(output: Path | None) -> Iterator[IO[str]]:
    """Where a command streams its results: ``output`` (UTF-8, written as given: no newline
    translation, which CSV needs) or stdout when None; a file that cannot be opened is a usage
    error (exit 2)."""
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        handle = output.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise bad_input(f"cannot write {output}: {exc.strerror or exc}") from None
    with handle:
        yield handle
