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

from simsearch.client import heatmap, jsonable, render
from simsearch.client.arguments import UsageError, build_filter, text_pairs
from simsearch.client.client import Client
from simsearch.client.jsonl import read_documents
from simsearch.client.progress import ProgressBar
from simsearch.client.results import CompareResult
from simsearch.types import Alignment, Document

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
    result = client.create_collection(
        args.name, pooling=args.pooling, index=args.index, store_tokens=args.store_tokens
    )
    spec = result.spec
    text = (
        f"created collection {spec.name!r}: pooling {spec.pooling.value}, index {spec.index}, "
        f"dimension {spec.dimension}{', token embeddings stored' if spec.store_tokens else ''}"
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
        result = client.upsert_stream(
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
        rerank=args.rerank,
        depth=args.depth,
        alpha=args.alpha,
        direction=args.direction,
        tokens=args.tokens,
        ef_search=args.ef_search,
        nprobe=args.nprobe,
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
    result = client.compare(
        pairs,
        pooling=args.pooling,
        truncate=args.truncate,
        maxsim=args.maxsim,
        direction=args.direction,
        tokens=args.tokens,
        alpha=args.alpha,
        alignments=args.align,
        similarity_matrix=args.heatmap is not None,
    )
    written = _write_heatmaps(args.heatmap, pairs, result.alignments)
    return _emit(
        args,
        lambda: jsonable.compare_json(pairs, result),
        lambda: _compare_text(pairs, result, written),
    )


def _compare_text(pairs: list[tuple[str, str]], result: CompareResult, written: list[str]) -> str:
    blocks = [render.compare_table(pairs, result, _width())]
    if result.alignments is not None and (len(written) == 0 or len(pairs) == 1):
        for number, (pair, alignment) in enumerate(zip(pairs, result.alignments, strict=True), 1):
            blocks.append(f"pair {number}:\n{render.alignment_table(pair, alignment)}")
    blocks += [f"wrote {path}" for path in written]
    return "\n\n".join(blocks)


def _write_heatmaps(
    path: str | None, pairs: list[tuple[str, str]], alignments: list[Alignment] | None
) -> list[str]:
    if path is None or alignments is None:
        return []
    paths = heatmap.heatmap_paths(path, len(pairs))
    for target, (a, b), alignment in zip(paths, pairs, alignments, strict=True):
        heatmap.write_heatmap(target, alignment, f"a: {a}\nb: {b}")
    return [str(target) for target in paths]


def rerank(client: Client, args: argparse.Namespace) -> int:
    (result,) = client.rerank(
        args.name,
        [(args.query, args.ids)],
        direction=args.direction,
        tokens=args.tokens,
        alpha=args.alpha,
        truncate=args.truncate,
    )
    return _emit(
        args,
        lambda: jsonable.search_json([args.query], [result]),
        lambda: render.hits_text([args.query], [result], _width()),
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
    "rerank": rerank,
    "tokens": tokens,
}
