"""The client half of the ``simsearch`` command: every subcommand except ``serve``.

Exit codes: 0 done; 1 the call failed (the server's status and message are printed as
``error: STATUS: message``, or a hint when the server cannot be reached); 2 a usage error or
malformed input (nothing was sent); 130 interrupted. Output goes to stdout, as text or, with
``--json``, one JSON document; errors and the upsert progress bar go to stderr.

``upsert`` reads and checks the whole JSONL input before sending anything: a malformed line is
reported as ``FILE:LINE: reason`` (all of them, up to 20) and nothing is upserted.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import Protocol

from simsearch import __version__
from simsearch.client.arguments import (
    UsageError,
    add_security_options,
    connection_security,
    filter_item,
    non_negative_float,
    positive_int,
)
from simsearch.client.client import Client
from simsearch.client.commands import COMMANDS
from simsearch.client.jsonl import JsonlError
from simsearch.client.rpc import ServerUnreachableError
from simsearch.config import client_address
from simsearch.errors import SimsearchError
from simsearch.types import MaxSimDirection, Pooling, TokenSelection
from simsearch.wire import code_for

__all__ = ["build_parser", "main"]

_POOLINGS = [pooling.value for pooling in Pooling]
_EPILOG = """\
Run the server with `simsearch serve` (see `simsearch serve --help`).
Every command takes --address, --timeout and --json, before or after its name.

examples:
  simsearch create demo --pooling mean
  simsearch upsert demo docs.jsonl
  simsearch search demo "where did the cat sit?" -k 5 --filter year=2012
  simsearch search demo "where did the cat sit?" --rerank --depth 50 --alpha 0.5
  simsearch compare "a cat sat" "the cat was sitting" --align --heatmap pair.png
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one client command; returns the exit code (argparse's own exits included)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    timeout = args.timeout if 0 < args.timeout < math.inf else None
    try:
        with Client(args.address, timeout=timeout, **connection_security(args)) as client:
            return int(COMMANDS[args.command](client, args))
    except JsonlError as exc:
        print(f"{exc}\nerror: malformed input; nothing was upserted", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ServerUnreachableError:
        print(
            f"error: cannot reach simsearch at {args.address}: is `simsearch serve` running?",
            file=sys.stderr,
        )
        return 1
    except SimsearchError as exc:
        print(f"error: {_status(exc)}{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early, as by `| head`: stop quietly
        _silence_stdout()
        return 1


def _status(error: SimsearchError) -> str:
    """``NOT_FOUND: `` for mapped errors; unmapped codes already lead their message."""
    if type(error) is SimsearchError:
        return ""
    return f"{code_for(error).name}: "


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# -- the parser ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simsearch",
        description="Semantic similarity search over gRPC: BERT embeddings, FAISS collections.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_connection_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"simsearch {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    common = _connection_options(suppress=True)

    def add(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=help, description=description or help, parents=[common]
        )

    _server_commands(add)
    _collection_commands(add)
    _document_commands(add)
    _encoding_commands(add)
    return parser


def _connection_options(*, suppress: bool) -> argparse.ArgumentParser:
    """--address, --timeout, --json: on the main parser with defaults, and on each command
    with SUPPRESS so that leaving them out after the command keeps the main parser's value."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("connection and output")

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group.add_argument(
        "--address",
        default=default(client_address()),
        metavar="HOST:PORT",
        help="server address (default: $SIMSEARCH_ADDRESS or 127.0.0.1:50051)",
    )
    group.add_argument(
        "--timeout",
        type=non_negative_float,
        default=default(60.0),
        metavar="SECONDS",
        help="deadline of each call; 0 waits forever (default: 60)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print one JSON document on stdout instead of text",
    )
    add_security_options(group, default)
    return options


class _AddParser(Protocol):
    def __call__(
        self, name: str, help: str, description: str | None = None
    ) -> argparse.ArgumentParser: ...


def _pooling_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--pooling", choices=_POOLINGS, default="pooler", help=help)


def _truncate_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--truncate",
        action="store_true",
        help=f"cut {what} longer than the model's maximum length instead of failing",
    )


def _maxsim_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "MaxSim (late interaction over token embeddings; each option implies MaxSim)"
    )
    group.add_argument(
        "--direction",
        choices=[d.value for d in MaxSimDirection],
        help="query_to_document: each query token's best match, averaged (ColBERT); "
        "symmetric: the mean of both ways (default)",
    )
    group.add_argument(
        "--tokens",
        choices=[t.value for t in TokenSelection],
        help="tokens taking part: all (default), no_special ([CLS]/[SEP] left out), words "
        "(no special tokens, no punctuation)",
    )
    group.add_argument(
        "--alpha",
        type=float,
        metavar="A",
        help="rank by the hybrid A * cosine + (1 - A) * MaxSim instead of MaxSim alone",
    )


def _server_commands(add: _AddParser) -> None:
    add("info", "show the server's model, pooling kinds, limits and version")


def _collection_commands(add: _AddParser) -> None:
    create = add("create", "create an empty collection")
    create.add_argument("name", metavar="NAME", help="1-64 of [A-Za-z0-9_.-]")
    _pooling_option(create, "how sentence embeddings are pooled (default: pooler)")
    create.add_argument(
        "--index",
        default="flat",
        help='"flat" (exact, the default) or a FAISS factory string such as HNSW32',
    )
    create.add_argument(
        "--store-tokens",
        action="store_true",
        help="keep each document's token embeddings (float16) so MaxSim reranking needs no "
        "re-encoding",
    )
    add("collections", "list the collections")
    add("describe", "show one collection").add_argument("name", metavar="NAME")
    add("drop", "delete a collection and all its documents").add_argument("name", metavar="NAME")


def _document_commands(add: _AddParser) -> None:
    upsert = add(
        "upsert",
        "insert or replace documents from a JSONL file",
        'insert or replace documents from a JSONL file, one {"id": ..., "text": ..., '
        '"metadata": {...}} per line (metadata optional). The whole file is checked first: '
        "if a line is malformed, nothing is sent.",
    )
    upsert.add_argument("name", metavar="NAME", help="collection")
    upsert.add_argument("file", metavar="FILE", help="JSONL file; - reads stdin")
    upsert.add_argument(
        "--batch-size",
        type=positive_int,
        default=256,
        metavar="N",
        help="documents per chunk of the upload stream (default: 256)",
    )
    _truncate_option(upsert, "texts")

    search = add("search", "find the documents nearest to query texts")
    search.add_argument("name", metavar="NAME", help="collection")
    search.add_argument("queries", metavar="QUERY", nargs="+", help="query text(s)")
    search.add_argument("-k", type=positive_int, default=10, help="hits per query (default: 10)")
    search.add_argument(
        "--filter",
        type=filter_item,
        action="append",
        metavar="KEY=VALUE",
        help="keep documents whose metadata KEY equals VALUE (JSON if it parses: 2012, true, "
        'null, "2012"; else a string); repeat to require several',
    )
    search.add_argument(
        "--min-score", type=float, metavar="SCORE", help="drop hits with a lower score"
    )
    _truncate_option(search, "queries")
    search.add_argument(
        "--rerank",
        action="store_true",
        help="rerank the top --depth hits by MaxSim over token embeddings",
    )
    search.add_argument(
        "--depth",
        type=positive_int,
        default=0,
        metavar="N",
        help="candidates to rerank (implies --rerank; default max(k, 50))",
    )
    search.add_argument("--ef-search", type=positive_int, metavar="N", help="HNSW efSearch")
    search.add_argument("--nprobe", type=positive_int, metavar="N", help="IVF lists to visit")
    _maxsim_options(search)

    rerank = add(
        "rerank",
        "order stored documents by MaxSim against a query",
        "order the given stored documents by MaxSim against a query, best first",
    )
    rerank.add_argument("name", metavar="NAME", help="collection")
    rerank.add_argument("query", metavar="QUERY")
    rerank.add_argument("ids", metavar="ID", nargs="+")
    _truncate_option(rerank, "the query")
    _maxsim_options(rerank)

    get = add("get", "show documents by id")
    get.add_argument("name", metavar="NAME", help="collection")
    get.add_argument("ids", metavar="ID", nargs="+")
    delete = add("delete", "delete documents by id (unknown ids are ignored)")
    delete.add_argument("name", metavar="NAME", help="collection")
    delete.add_argument("ids", metavar="ID", nargs="+")


def _encoding_commands(add: _AddParser) -> None:
    encode = add(
        "encode",
        "show sentence embeddings of texts",
        "show the shape and the start of each sentence embedding; --json prints them in full",
    )
    encode.add_argument("texts", metavar="TEXT", nargs="+")
    _pooling_option(encode, "pooling (default: pooler)")
    encode.add_argument("--normalize", action="store_true", help="L2-normalise the embeddings")
    _truncate_option(encode, "texts")

    compare = add(
        "compare",
        "similarity of text pairs: compare A B [A B ...]",
        "cosine similarity of text pairs, and with --maxsim their MaxSim score; --align shows "
        "which token of b each token of a matches, --heatmap draws the token-by-token matrix",
    )
    compare.add_argument("texts", metavar="TEXT", nargs="+", help="texts, taken two by two")
    _pooling_option(compare, "pooling (default: pooler)")
    _truncate_option(compare, "texts")
    compare.add_argument("--maxsim", action="store_true", help="also score by MaxSim")
    compare.add_argument(
        "--align", action="store_true", help="print the token alignment of each pair"
    )
    compare.add_argument(
        "--heatmap",
        metavar="FILE.png",
        help="write the token similarity matrix as a PNG (FILE-1.png ... for several pairs); "
        "needs matplotlib",
    )
    _maxsim_options(compare)

    tokens = add(
        "tokens",
        "show the tokens of a text, with ids and character offsets",
        "show the tokens of a text (or of a pair encoded together), with vocabulary ids, "
        "character offsets and special tokens; --json adds each token embedding",
    )
    tokens.add_argument("text", metavar="TEXT")
    tokens.add_argument("second", metavar="SECOND", nargs="?", help="second text of a pair")
    _truncate_option(tokens, "texts")
