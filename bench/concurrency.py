"""Exact search under concurrency: p50 / p99 latency of 1 and 8 concurrent single-query
searchers of a flat collection of 100k documents, k=10, with concurrent searches (shared lock,
gathered into one FAISS call: the default) and, as references in the same run, the behaviours
before (``--modes``, default all):

- serialized: one search at a time, each alone (``concurrent_search=False``);
- blas8: gathered, but BLAS only from 8 queries (session 4's threshold: batches of 3-7 took
  the sequential kernel, one read of the vectors per query);
- omp2: gathered, every FAISS call on FAISS's own OpenMP threads (2 here) instead of one;
- now: what simsearch does.

Two parts, each alternating the two behaviours:

- index: ``FaissCollection.search`` in this process, with seeded vectors (``bench/search.py``'s
  mixture) as the queries; no model, no gRPC: what the collection itself costs.
- gRPC: single-text Search RPCs against a ``simsearch serve`` child process, STS-B test
  sentences as queries, so each search also encodes its text (through the encoder's batcher)
  and crosses gRPC. The collection holds the distinct STS-B sentences repeated up to
  ``--documents``, embedded once through the server's Encode RPC and written with the index
  layer (encoding 100k texts one by one would take minutes and measure nothing here). Each
  behaviour gets its own server process; rows of an "Encode 1 text" call show the model's
  share.

    .venv/bin/python bench/concurrency.py              # 100k, 10 s per row, 2 rounds: ~10 min
    .venv/bin/python bench/concurrency.py --quick      # 10k, 3 s per row, 1 round
    .venv/bin/python bench/concurrency.py --part index # only the in-process part
    .venv/bin/python bench/concurrency.py --part grpc --data-dir DIR   # keep / reuse the data
    .venv/bin/python bench/concurrency.py --modes blas8,now            # only these behaviours

Timing is noisy when other processes share the cores: compare rows of one run.
"""

from __future__ import annotations

import argparse
import functools
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from common import load_sts, percentile, print_table, sts_sentences
from end_to_end import run_clients
from search import mixture

from simsearch.client import Client
from simsearch.index import FaissCatalog, FaissCollection, vectors
from simsearch.types import Document, FloatArray

K = 10
COLLECTION = "stsb"


@dataclass(frozen=True)
class Mode:
    """A behaviour: searches concurrent and gathered, or one at a time; FAISS's BLAS threshold
    (None: simsearch's ``vectors.BLAS_THRESHOLD``); gathered and small batches on one OpenMP
    thread (simsearch's rule, ``vectors.SMALL_BATCH``) or every call on FAISS's own threads."""

    name: str
    concurrent: bool = True
    blas_threshold: int | None = None
    one_thread: bool = True

    def apply(self) -> None:
        """Set this behaviour's FAISS settings in this process (a benchmark's switch)."""
        faiss.cvar.distance_compute_blas_threshold = self.blas_threshold or BLAS_THRESHOLD
        vectors.SMALL_BATCH = SMALL_BATCH if self.one_thread else 0


BLAS_THRESHOLD, SMALL_BATCH = vectors.BLAS_THRESHOLD, vectors.SMALL_BATCH
MODES = {
    "serialized": Mode("serialized (before)", concurrent=False),
    "blas8": Mode("gathered, BLAS from 8 queries (before)", blas_threshold=8 * 384),
    "omp2": Mode("gathered, FAISS's OpenMP threads", one_thread=False),
    "now": Mode("gathered, BLAS from 3 queries (now)"),
}
SEARCHERS = (1, 8)


def main() -> None:
    args = _arguments()
    print(
        f"exact search under concurrency: flat, {args.documents:,} documents, k={K}, "
        f"{args.seconds:g} s per row, {args.rounds} round(s) alternating the behaviours; "
        f"{os.cpu_count()} cores, load average {_load()}"
    )
    with tempfile.TemporaryDirectory(prefix="simsearch-concurrency-") as scratch:
        if args.part in ("index", "both"):
            index_part(Path(scratch) / "index", args)
        if args.part in ("grpc", "both"):
            grpc_part(args.data_dir or Path(scratch) / "grpc", args)
    print(f"\nload average at the end: {_load()}")


# -- in process -------------------------------------------------------------------------------


def index_part(data_dir: Path, args: argparse.Namespace) -> None:
    corpus, queries = mixture(args.documents, 512, seed=7)
    catalog = FaissCatalog(data_dir, checkpoint_every=10**7)
    collection = catalog.create(_spec_like(COLLECTION, corpus.shape[1]))
    for start in range(0, len(corpus), 10_000):
        stop = min(start + 10_000, len(corpus))
        docs = [Document(f"d{i}", f"text {i}") for i in range(start, stop)]
        collection.upsert(docs, corpus[start:stop])
    catalog.close()
    rows: list[list[Any]] = []
    for round in range(args.rounds):
        for searchers in SEARCHERS:
            for mode in args.modes[:: 1 if round % 2 == 0 else -1]:  # alternate the first
                mode.apply()
                catalog = FaissCatalog(data_dir, concurrent_search=mode.concurrent)
                collection = catalog.open(COLLECTION)
                latencies = _searchers(collection, queries, searchers, args.seconds)
                rows.append(_row(mode.name, searchers, latencies, args.seconds))
                catalog.close()
    MODES["now"].apply()
    print_table(
        "Index only: FaissCollection.search of one vector, in this process",
        ["behaviour", "searchers", "searches/s", "p50 ms", "p99 ms"],
        rows,
    )


def _searchers(
    collection: FaissCollection, queries: FloatArray, count: int, seconds: float
) -> list[float]:
    """``count`` threads searching one query at a time for ``seconds``; every latency."""
    latencies: list[list[float]] = [[] for _ in range(count)]
    start = threading.Barrier(count + 1)
    stop_at = [0.0]

    def search(n: int) -> None:
        collection.search(queries[n : n + 1], K)  # warm
        start.wait()
        i = n
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            collection.search(queries[i % len(queries)][None], K)
            latencies[n].append(time.perf_counter() - began)
            i += count

    threads = [threading.Thread(target=search, args=(n,)) for n in range(count)]
    stop_at[0] = time.perf_counter() + 3600
    for thread in threads:
        thread.start()
    start.wait()
    stop_at[0] = time.perf_counter() + seconds
    for thread in threads:
        thread.join()
    return [latency for row in latencies for latency in row]


# -- over gRPC --------------------------------------------------------------------------------


def grpc_part(data_dir: Path, args: argparse.Namespace) -> None:
    queries = [pair.a for pair in load_sts("test")]
    if not (data_dir / COLLECTION).is_dir():
        _build_collection(data_dir, args)
    rows: list[list[Any]] = []

    def search(client: Client, i: int) -> Any:
        return client.search(COLLECTION, queries[i % len(queries)], k=K)

    def encode(client: Client, i: int) -> Any:
        return client.encode(queries[i % len(queries)])

    for _ in range(args.rounds):
        for mode in args.modes:
            with _server(data_dir, mode) as address:
                for clients in SEARCHERS:
                    _, latencies = run_clients(address, clients, args.seconds, search)
                    rows.append(_row(f"Search: {mode.name}", clients, latencies, args.seconds))
                if mode == args.modes[-1]:
                    _, latencies = run_clients(address, 8, args.seconds, encode)
                    rows.append(
                        _row("Encode 1 text (the model's share)", 8, latencies, args.seconds)
                    )
    print_table(
        "End to end: Search RPC of one text over gRPC (server in a child process)",
        ["call", "clients", "calls/s", "p50 ms", "p99 ms"],
        rows,
    )


def _build_collection(data_dir: Path, args: argparse.Namespace) -> None:
    """The collection: distinct STS-B sentences embedded by the server, repeated to
    ``args.documents`` and written with the index layer while no server runs."""
    started = time.perf_counter()
    with _server(data_dir, MODES["now"]) as address, Client(address, timeout=None) as client:
        texts = sts_sentences()[: args.documents]
        vectors = np.concatenate(
            [
                client.encode(texts[i : i + 64], normalize=True).embeddings
                for i in range(0, len(texts), 64)
            ]
        )
        client.create_collection(COLLECTION)
    catalog = FaissCatalog(data_dir, checkpoint_every=10**7)
    collection = catalog.open(COLLECTION)
    for start in range(0, args.documents, 10_000):
        stop = min(start + 10_000, args.documents)
        docs = [Document(f"d{i}", texts[i % len(texts)]) for i in range(start, stop)]
        collection.upsert(docs, vectors[np.arange(start, stop) % len(texts)])
    catalog.close()
    print(
        f"\ncollection of {args.documents:,} documents ({len(texts):,} distinct sentences) "
        f"ready in {time.perf_counter() - started:.0f} s"
    )


@contextmanager
def _server(data_dir: Path, mode: Mode) -> Iterator[str]:
    """``simsearch serve`` over ``data_dir`` in a child process (this script with ``--serve``),
    searching as ``mode`` says; yields its address once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = next(key for key, known in MODES.items() if known == mode)
    command = [sys.executable, __file__, "--serve", key]
    command += ["--port", str(port), "--data-dir", str(data_dir)]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # its errors show
    address = f"127.0.0.1:{port}"
    try:
        _wait_answering(address, child)
        yield address
    finally:
        child.terminate()
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()


def _wait_answering(address: str, child: subprocess.Popen[bytes], limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    with Client(address, timeout=2) as client:
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise SystemExit(f"the server exited with code {child.returncode}")
            try:
                client.info()
                return
            except Exception:
                time.sleep(0.3)
    raise SystemExit(f"the server at {address} did not answer within {limit:.0f} s")


def _serve(key: str, argv: list[str]) -> int:
    """The child: the ordinary server (``--port P --data-dir DIR``), with the mode's FAISS
    settings and its catalog built with ``concurrent_search`` per mode (patched here, a
    benchmark's switch, not a server setting)."""
    from simsearch.config import ServerConfig
    from simsearch.server import app, build_engine, create_server, serve

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    mode = MODES[key]
    mode.apply()
    if not mode.concurrent:
        app.FaissCatalog = functools.partial(FaissCatalog, concurrent_search=False)  # type: ignore[attr-defined,assignment]
    config = ServerConfig(host="127.0.0.1", port=args.port, data_dir=args.data_dir)
    engine = build_engine(config)
    serve(create_server(config, engine))
    engine.close()
    return 0


# -- output -----------------------------------------------------------------------------------


def _row(name: str, count: int, latencies: list[float], seconds: float) -> list[Any]:
    return [
        name,
        count,
        len(latencies) / seconds,
        1000 * percentile(latencies, 50),
        1000 * percentile(latencies, 99),
    ]


def _spec_like(name: str, dimension: int) -> Any:
    from simsearch.types import CollectionSpec, Pooling

    return CollectionSpec(
        name=name,
        pooling=Pooling.POOLER,
        index="flat",
        dimension=dimension,
        model_name="synthetic",
        model_fingerprint="synthetic",
    )


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per row")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the behaviours")
    parser.add_argument("--part", choices=("index", "grpc", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="10k documents, 3 s per row")
    parser.add_argument(
        "--data-dir", type=Path, help="keep the gRPC part's collection here, reuse it if there"
    )
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"behaviours to compare, of {', '.join(MODES)}"
    )
    args = parser.parse_args()
    unknown = set(args.modes.split(",")) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")
    args.modes = [MODES[key] for key in args.modes.split(",")]
    if args.quick:
        args.documents, args.seconds, args.rounds = 10_000, 3.0, 1
    return args


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        raise SystemExit(_serve(sys.argv[2], sys.argv[3:]))
    main()
