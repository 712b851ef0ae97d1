"""One function per client subcommand: call the client, print text or JSON on stdout.

Each takes the ``Client`` and the parsed arguments and returns the exit code. Text goes
through ``render``, ``--json`` output through ``jsonable``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any

from simsearch.client import jsonable, render
from simsearch.client.arguments import UsageError, build_filter, text_pairs
from simsearch.client.client import Client
from simsearch.client.jsonl import read_documents
from simsearch.client.progress import ProgressBar
from simsearch.types import Document

__all__ = ["COMMANDS", "Command"]

Command = Callable[[Client, argparse.Namespace], int]


def _emit(args: argparse.Namespace, as_json: Callable[[], Any], as_text: Callable[[], str]) -> int:
    if args.json:
        print(json.dumps(as_json(), ensure_ascii=False))
    else:
        print(as_text())
    return 0


def _width() -> int:
    return shutil.get_terminal_size(fallback=(120, 24)).columns


def info(client: Client, args: argparse.Namespace) -> int:
    result = client.info()
    return _emit(
        args, lambda: jsonable.server_info_json(result), lambda: render.server_info_text(result)
    )


def create(client: Client, args: argparse.Namespace) -> int:
    result = client.create_collection(args.name, pooling=args.pooling, index=args.index)
    spec = result.spec
    text = (
        f"created collection {spec.name!r}: pooling {spec.pooling.value}, index {spec.index}, "
        f"dimension {spec.dimension}"
    )
    return _emit(args, lambda: jsonable.collection_json(result), lambda: text)


def collections(client: Client, args: argparse.Namespace) -> int:
    result = client.list_collections()
    return _emit(
        args,
        lambda: [jsonable.collection_json(info) for info in result],
        lambda: render.collections_table(result, _width()),
    )


def describe(client: Client, args: argparse.Namespace) -> int:
    result = client.describe_collection(args.name)
    return _emit(
        args, lambda: jsonable.collection_json(result), lambda: render.collection_text(result)
    )


def drop(client: Client, args: argparse.Namespace) -> int:
    client.drop_collection(args.name)
    return _emit(args, lambda: {"dropped": args.name}, lambda: f"dropped collection {args.name!r}")


def upsert(client: Client, args: argparse.Namespace) -> int:
    documents = _read_documents(args.file)
    started = time.perf_counter()
    with ProgressBar(len(documents), label=f"upserting into {args.name!r}") as bar:
        result = client.upsert(
            args.name,
            documents,
            truncate=args.truncate,
            batch_size=args.batch_size,
            progress=bar.update,
        )
    seconds = time.perf_counter() - started
    return _emit(
        args,
        lambda: jsonable.upsert_json(args.name, result, seconds),
        lambda: render.upsert_summary(args.name, result, seconds),
    )


def _read_documents(path: str) -> list[Document]:
    """Every document of a JSONL file (``-``: stdin); JsonlError lists malformed lines."""
    if path == "-":
        return read_documents(sys.stdin.buffer, "<stdin>")
    try:
        with open(path, "rb") as lines:
            return read_documents(lines, path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def search(client: Client, args: argparse.Namespace) -> int:
    result = client.search(
        args.name,
        args.queries,
        k=args.k,
        filter=build_filter(args.filter),
        min_score=args.min_score,
        truncate=args.truncate,
    )
    return _emit(
        args,
        lambda: jsonable.search_json(args.queries, result),
        lambda: render.hits_text(args.queries, result, _width()),
    )


def get(client: Client, args: argparse.Namespace) -> int:
    result = client.get(args.name, args.ids)
    return _emit(
        args,
        lambda: [jsonable.document_json(doc) for doc in result],
        lambda: render.documents_table(result, _width()),
    )


def delete(client: Client, args: argparse.Namespace) -> int:
    deleted = client.delete(args.name, args.ids)
    text = f"deleted {deleted:,} of {len(args.ids):,} documents from {args.name!r}"
    return _emit(args, lambda: {"deleted": deleted, "ids": len(args.ids)}, lambda: text)


def encode(client: Client, args: argparse.Namespace) -> int:
    result = client.encode(
        args.texts, pooling=args.pooling, normalize=args.normalize, truncate=args.truncate
    )
    norm = "L2-normalised" if args.normalize else "not normalised"
    description = f"pooling {args.pooling}, {norm}"
    return _emit(
        args,
        lambda: jsonable.embeddings_json(args.texts, result),
        lambda: render.embeddings_text(args.texts, result, description, _width()),
    )


def compare(client: Client, args: argparse.Namespace) -> int:
    pairs = text_pairs(args.texts)
    result = client.compare(pairs, pooling=args.pooling, truncate=args.truncate)
    return _emit(
        args,
        lambda: jsonable.compare_json(pairs, result),
        lambda: render.compare_table(pairs, result, _width()),
    )


def tokens(client: Client, args: argparse.Namespace) -> int:
    if args.second is None:
        texts = [args.text]
        (result,) = client.encode_tokens([args.text], truncate=args.truncate)
    else:
        texts = [args.text, args.second]
        (result,) = client.encode_tokens(pairs=[(args.text, args.second)], truncate=args.truncate)
    return _emit(
        args, lambda: jsonable.tokens_json(result), lambda: render.tokens_table(texts, result)
    )


COMMANDS: dict[str, Command] = {
    "info": info,
    "create": create,
    "collections": collections,
    "describe": describe,
    "drop": drop,
    "upsert": upsert,
    "search": search,
    "get": get,
    "delete": delete,
    "encode": encode,
    "compare": compare,
    "tokens": tokens,
}
