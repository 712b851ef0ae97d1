"""End to end: single-text searches over gRPC against a collection of 100k documents, with 1, 8
and 32 concurrent clients (each its own channel, in threads of this process; the server is a
separate process). Queries are STS-B test sentences, k=10.

Reference rows measured in the same run: the Info RPC (the gRPC round trip alone) and the
Encode RPC of one text (the model's share of a search) with one client.

    .venv/bin/python bench/end_to_end.py [--documents 100000] [--seconds 15] [--data-dir DIR]

With ``--data-dir`` from ``bench/ingest.py --keep DIR`` the collection "stsb" is reused;
otherwise it is built first with a bulk upsert.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import load_sts, percentile, print_table, server_process, sts_sentences

from simsearch.client import Client
from simsearch.errors import NotFoundError


def run_clients(
    address: str, clients: int, seconds: float, call: Callable[[Client, int], Any]
) -> tuple[int, list[float]]:
    """Each client calls ``call(client, i)`` in a loop for ``seconds``; returns the number of
    calls and their latencies (seconds)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(n: int) -> None:
        with Client(address, timeout=30) as client:
            call(client, n)  # warm-up, and the channel is connected
            start.wait()
            i = n
            while time.perf_counter() < stop_at[0]:
                began = time.perf_counter()
                try:
                    call(client, i)
                except Exception as exc:
                    errors.append(exc)
                    return
                latencies[n].append(time.perf_counter() - began)
                i += clients

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + 3600
    start.wait()
    stop_at[0] = time.perf_counter() + seconds
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"{len(errors)} calls failed, first: {errors[0]!r}")
    flat = [x for row in latencies for x in row]
    return len(flat), flat


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=15.0, help="per row")
    parser.add_argument("--data-dir", type=Path, help="reuse the collection 'stsb' from here")
    parser.add_argument("--quick", action="store_true", help="10,000 documents, 5 s per row")
    parser.add_argument("--server-flag", action="append", default=[], help="extra serve flag")
    parser.add_argument(
        "--index", default="flat", help='index kind of the collection, e.g. "HNSW32 | efSearch=64"'
    )
    args = parser.parse_args()
    collection = "stsb"
    if args.index != "flat":
        collection += "_" + re.sub(r"[^A-Za-z0-9]+", "_", args.index).strip("_")
    if args.quick:
        args.documents, args.seconds = 10_000, 5.0
    queries = [pair.a for pair in load_sts("test")]
    with tempfile.TemporaryDirectory(prefix="simsearch-e2e-") as scratch:
        data_dir = args.data_dir or Path(scratch) / "data"
        with server_process(data_dir, *args.server_flag) as address:
            with Client(address, timeout=None) as client:
                try:
                    count = client.describe_collection(collection).count
                except NotFoundError:
                    texts = sts_sentences()
                    client.create_collection(collection, index=args.index)
                    docs = (
                        {"id": f"d{i}", "text": texts[i % len(texts)]}
                        for i in range(args.documents)
                    )
                    started = time.perf_counter()
                    client.upsert_stream(collection, docs)
                    print(f"built {collection!r} in {time.perf_counter() - started:.0f} s")
                    count = client.describe_collection(collection).count
                model = client.info().model
            print(
                f"collection {collection!r} ({args.index}): {count:,} documents; "
                f"model {model.name}, precision {model.precision}"
            )
            rows: list[list[Any]] = []

            def add(name: str, clients: int, call: Callable[[Client, int], Any]) -> None:
                calls, latencies = run_clients(address, clients, args.seconds, call)
                rows.append(
                    [
                        name,
                        clients,
                        calls / args.seconds,
                        1000 * percentile(latencies, 50),
                        1000 * percentile(latencies, 99),
                    ]
                )

            add("Info (gRPC round trip)", 1, lambda c, i: c.info())
            add("Encode 1 text", 1, lambda c, i: c.encode(queries[i % len(queries)]))
            for clients in (1, 8, 32):
                add(
                    "Search 1 text, k=10",
                    clients,
                    lambda c, i: c.search(collection, queries[i % len(queries)], k=10),
                )
    print_table(
        f"End to end over gRPC ({args.seconds:.0f} s per row)",
        ["call", "clients", "calls/s", "p50 ms", "p99 ms"],
        rows,
    )


if __name__ == "__main__":
    main()
