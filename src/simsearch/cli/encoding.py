"""Commands that call the model alone: encode, compare, tokens."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from simsearch.cli import heatmap, json_output, render
from simsearch.cli.connection import with_client
from simsearch.cli.options import maxsim_options, text_pairs, truncate_option
from simsearch.cli.output import emit, warn
from simsearch.client.client import Client
from simsearch.types import Alignment, Pooling

__all__ = ["COMMANDS"]

F = TypeVar("F", bound=Callable[..., Any])


def _collection_option(help: str) -> Callable[[F], F]:
    return click.option("--collection", metavar="NAME", default="", help=help)


# Not options.pooling_option: unset must stay unset, so that --collection picks its pooling.
_pooling_option = click.option(
    "--pooling",
    type=click.Choice([pooling.value for pooling in Pooling]),
    default=None,
    help="pooling [default: pooler, or the collection's]",
)


@click.command(
    help="show the shape and the start of each sentence embedding; --json prints them in full",
    short_help="show sentence embeddings of texts",
)
@click.argument("texts", metavar="TEXT...", nargs=-1, required=True)
@_pooling_option
@click.option("--normalize", is_flag=True, help="L2-normalise the embeddings")
@_collection_option("embed as this collection does: its pooling, its calibration once fitted")
@truncate_option("texts")
@with_client
def encode(
    client: Client,
    as_json: bool,
    texts: tuple[str, ...],
    pooling: str | None,
    normalize: bool,
    collection: str,
    truncate: bool,
) -> None:
    result = client.encode(
        list(texts), pooling=pooling, normalize=normalize, truncate=truncate, collection=collection
    )
    if collection:
        description = f"as collection {collection!r} embeds (calibrated once fitted), normalised"
    else:
        description = (
            f"pooling {pooling or Pooling.POOLER.value}, "
            f"{'L2-normalised' if normalize else 'not normalised'}"
        )
    emit(
        as_json,
        lambda: json_output.embeddings_json(texts, result),
        lambda: render.embeddings_text(texts, result, description),
    )


@click.command(
    help="cosine similarity of text pairs (compare A B [A B ...]), and with --maxsim their "
    "MaxSim score; --align shows which token of b each token of a matches, --heatmap draws "
    "the token-by-token matrix",
    short_help="similarity of text pairs: compare A B [A B ...]",
)
@click.argument("texts", metavar="TEXT...", nargs=-1, required=True)
@_pooling_option
@_collection_option("cosine of vectors made as this collection's: its pooling and calibration")
@truncate_option("texts")
@click.option("--maxsim", is_flag=True, help="also score by MaxSim")
@click.option("--align", is_flag=True, help="print the token alignment of each pair")
@click.option(
    "--heatmap",
    metavar="FILE.png",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the token similarity matrix as a PNG (FILE-1.png ... for several pairs); "
    "needs matplotlib",
)
@maxsim_options
@with_client
def compare(
    client: Client,
    as_json: bool,
    texts: tuple[str, ...],
    align: bool,
    heatmap: Path | None,
    **options: Any,
) -> None:
    pairs = text_pairs(texts)
    result = client.compare(
        pairs, alignments=align, similarity_matrix=heatmap is not None, **options
    )
    written = _write_heatmaps(heatmap, pairs, result.alignments)
    emit(
        as_json,
        lambda: json_output.compare_json(pairs, result),
        lambda: render.compare_text(pairs, result, written),
    )


def _write_heatmaps(
    path: Path | None, pairs: list[tuple[str, str]], alignments: list[Alignment] | None
) -> list[str]:
    if path is None or alignments is None:
        return []
    paths = heatmap.heatmap_paths(path, len(pairs))
    for target, (a, b), alignment in zip(paths, pairs, alignments, strict=True):
        heatmap.write_heatmap(target, alignment, f"a: {a}\nb: {b}")
    return [str(target) for target in paths]


@click.command(
    help="show the tokens of a text (or of a pair encoded together), with vocabulary ids, "
    "character offsets, special tokens and how many are unknown to the model's vocabulary "
    "([UNK]); --json adds each token embedding",
    short_help="show the tokens of a text, with ids and character offsets",
)
@click.argument("text", metavar="TEXT")
@click.argument("second", metavar="[SECOND]", required=False)
@truncate_option("texts")
@with_client
def tokens(client: Client, as_json: bool, text: str, second: str | None, truncate: bool) -> None:
    if second is None:
        texts = [text]
        (result,) = client.encode_tokens([text], truncate=truncate)
    else:
        texts = [text, second]
        (result,) = client.encode_tokens(pairs=[(text, second)], truncate=truncate)
    warning = render.unknown_tokens_warning(result)
    if warning:
        warn(warning)
    emit(
        as_json, lambda: json_output.tokens_json(result), lambda: render.tokens_table(texts, result)
    )


COMMANDS = (encode, compare, tokens)
