"""Commands about the server and its collections: info, create, collections, describe, drop,
calibrate."""

from __future__ import annotations

import click

from simsearch.cli import json_output, render
from simsearch.cli.connection import with_client
from simsearch.cli.options import pooling_option
from simsearch.cli.output import emit
from simsearch.client.client import Client
from simsearch.types import CalibrationKind, CollectionInfo

__all__ = ["COMMANDS"]


@click.command(help="show the server's model, pooling kinds, limits and version")
@with_client
def info(client: Client, as_json: bool) -> None:
    result = client.info()
    emit(
        as_json,
        lambda: json_output.server_info_json(result),
        lambda: render.server_info_text(result),
    )


@click.command(
    help="create an empty collection NAME (1-64 of letters, digits, '_', '.' and '-', "
    "starting with a letter or digit)",
    short_help="create an empty collection",
)
@click.argument("name", metavar="NAME")
@pooling_option("how sentence embeddings are pooled")
@click.option(
    "--index",
    default="flat",
    show_default=True,
    help='"flat" (exact) or a FAISS factory string such as HNSW32',
)
@click.option(
    "--store-tokens",
    is_flag=True,
    help="keep each document's token embeddings (float16) so MaxSim reranking needs no re-encoding",
)
@click.option(
    "--calibration",
    type=click.Choice([kind.value for kind in CalibrationKind]),
    default=CalibrationKind.NONE.value,
    show_default=True,
    help="vector calibration fitted on the collection's own documents: center removes their "
    "mean, whiten also decorrelates them (docs/calibration.md)",
)
@click.option(
    "--dimensions",
    type=int,
    default=0,
    show_default=True,
    help="whiten only: keep this many leading dimensions (0 keeps all)",
)
@with_client
def create(
    client: Client,
    as_json: bool,
    name: str,
    pooling: str,
    index: str,
    store_tokens: bool,
    calibration: str,
    dimensions: int,
) -> None:
    result = client.create_collection(
        name,
        pooling=pooling,
        index=index,
        store_tokens=store_tokens,
        calibration=calibration,
        calibration_dimensions=dimensions,
    )
    spec = result.spec
    text = (
        f"created collection {spec.name!r}: pooling {spec.pooling.value}, index {spec.index}, "
        f"dimension {spec.dimension}{', token embeddings stored' if spec.store_tokens else ''}"
        f"{_calibration_note(result)}"
    )
    emit(as_json, lambda: json_output.collection_json(result), lambda: text)


def _calibration_note(info: CollectionInfo) -> str:
    state = info.calibration
    kind = state.calibration.kind
    if kind == CalibrationKind.NONE:
        return ""
    kept = state.calibration.dimensions
    dimensions = f" keeping {kept} dimensions" if kept else ""
    return (
        f", calibration {kind.value}{dimensions} (fitted automatically at "
        f"{state.fit_threshold} documents, or by `simsearch calibrate {info.spec.name}`)"
    )


@click.command(help="list the collections")
@with_client
def collections(client: Client, as_json: bool) -> None:
    result = client.list_collections()
    emit(
        as_json,
        lambda: [json_output.collection_json(info) for info in result],
        lambda: render.collections_table(result),
    )


@click.command(help="show one collection")
@click.argument("name", metavar="NAME")
@with_client
def describe(client: Client, as_json: bool, name: str) -> None:
    result = client.describe_collection(name)
    emit(
        as_json, lambda: json_output.collection_json(result), lambda: render.collection_text(result)
    )


@click.command(help="delete a collection and all its documents")
@click.argument("name", metavar="NAME")
@with_client
def drop(client: Client, as_json: bool, name: str) -> None:
    client.drop_collection(name)
    emit(as_json, lambda: {"dropped": name}, lambda: f"dropped collection {name!r}")


@click.command(
    help="fit the collection's calibration on its documents now (at least 2) and rebuild its "
    "index from the stored vectors; until then it is fitted automatically once it holds "
    "enough documents",
    short_help="refit a collection's calibration now",
)
@click.argument("name", metavar="NAME")
@with_client
def calibrate(client: Client, as_json: bool, name: str) -> None:
    result = client.calibrate(name)
    state = result.calibration
    text = (
        f"calibrated collection {name!r}: {state.calibration.kind.value} fitted on "
        f"{state.fitted_on} documents"
    )
    emit(as_json, lambda: json_output.collection_json(result), lambda: text)


COMMANDS = (info, create, collections, describe, drop, calibrate)
