"""Commands that read and remove documents: search, rerank, get, delete."""

from __future__ import annotations

from typing import Any

import click

from simsearch.cli import json_output, render
from simsearch.cli.connection import with_client
from simsearch.cli.failure import bad_input
from simsearch.cli.options import FILTER, POSITIVE, build_filter, maxsim_options, truncate_option
from simsearch.cli.output import emit
from simsearch.client.client import Client

__all__ = ["COMMANDS"]


@click.command(
    help="find the documents of collection NAME nearest to query texts; --rerank (or any of "
    "the MaxSim options) reorders the best of them by MaxSim over token embeddings",
    short_help="find the documents nearest to query texts",
)
@click.argument("name", metavar="NAME")
@click.argument("queries", metavar="QUERY...", nargs=-1)
@click.option(
    "--id",
    "ids",
    metavar="ID",
    multiple=True,
    help="instead of QUERY: more like this stored document (its stored vector is the query; "
    "with a rerank, its text), never returning it; repeat for one query per id",
)
@click.option("-k", type=POSITIVE, default=10, show_default=True, help="hits per query")
@click.option(
    "--filter",
    "filters",
    type=FILTER,
    multiple=True,
    help="keep documents whose metadata KEY equals VALUE (KEY==VALUE too; VALUE is JSON if it "
    'parses: 2012, true, null, "2012"; else a string); repeat to require several',
)
@click.option("--min-score", type=float, metavar="SCORE", help="drop hits with a lower score")
@truncate_option("queries")
@click.option(
    "--rerank", is_flag=True, help="rerank the top --depth hits by MaxSim over token embeddings"
)
@click.option(
    "--cross-encoder",
    is_flag=True,
    help="rerank the top --depth hits with the model's classification head instead, each "
    "(query, document) pair encoded jointly; the score is the relevance label's probability",
)
@click.option(
    "--depth",
    type=POSITIVE,
    metavar="N",
    help="candidates to rerank (implies --rerank) [default: max(k, 50)]",
)
@click.option("--ef-search", type=POSITIVE, metavar="N", help="HNSW efSearch")
@click.option("--nprobe", type=POSITIVE, metavar="N", help="IVF lists to visit")
@maxsim_options
@with_client
def search(
    client: Client,
    as_json: bool,
    name: str,
    queries: tuple[str, ...],
    ids: tuple[str, ...],
    filters: tuple[tuple[str, Any], ...],
    depth: int | None,
    **options: Any,
) -> None:
    if bool(queries) == bool(ids):
        raise bad_input("give query texts (QUERY...) or --id, one of the two")
    result = client.search(
        name,
        list(queries) or None,
        ids=list(ids) or None,
        filter=build_filter(filters),
        depth=depth or 0,
        **options,
    )
    if ids:
        labels = [f"id:{doc_id}" for doc_id in ids]
        emit(
            as_json,
            lambda: [
                {"id": doc_id, "hits": found["hits"]}
                for doc_id, found in zip(ids, json_output.search_json(labels, result), strict=True)
            ],
            lambda: render.hits_text(labels, result),
        )
        return
    emit(
        as_json,
        lambda: json_output.search_json(queries, result),
        lambda: render.hits_text(queries, result),
    )


@click.command(
    help="order the given documents of collection NAME by MaxSim against QUERY, best first",
    short_help="order stored documents by MaxSim against a query",
)
@click.argument("name", metavar="NAME")
@click.argument("query", metavar="QUERY")
@click.argument("ids", metavar="ID...", nargs=-1, required=True)
@truncate_option("the query")
@maxsim_options
@with_client
def rerank(
    client: Client, as_json: bool, name: str, query: str, ids: tuple[str, ...], **options: Any
) -> None:
    (result,) = client.rerank(name, [(query, list(ids))], **options)
    emit(
        as_json,
        lambda: json_output.search_json([query], [result]),
        lambda: render.hits_text([query], [result]),
    )


@click.command(help="show documents of collection NAME by id", short_help="show documents by id")
@click.argument("name", metavar="NAME")
@click.argument("ids", metavar="ID...", nargs=-1, required=True)
@with_client
def get(client: Client, as_json: bool, name: str, ids: tuple[str, ...]) -> None:
    result = client.get(name, list(ids))
    emit(
        as_json,
        lambda: [json_output.document_json(doc) for doc in result],
        lambda: render.documents_table(result),
    )


@click.command(
    help="delete documents of collection NAME by id (unknown ids are ignored)",
    short_help="delete documents by id (unknown ids are ignored)",
)
@click.argument("name", metavar="NAME")
@click.argument("ids", metavar="ID...", nargs=-1, required=True)
@with_client
def delete(client: Client, as_json: bool, name: str, ids: tuple[str, ...]) -> None:
    deleted = client.delete(name, list(ids))
    text = f"deleted {deleted:,} of {len(ids):,} documents from {name!r}"
    emit(as_json, lambda: {"deleted": deleted, "ids": len(ids)}, lambda: text)


COMMANDS = (search, rerank, get, delete)
