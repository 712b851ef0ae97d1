"""Ingest: documents/s of a bulk upsert of STS-B-sized texts into a server process.

The texts are the distinct sentences of the STS Benchmark's three splits (train, dev, test),
cycled to the requested count with distinct ids, so every document costs a real encoding of a
real sentence (about 14 tokens). Measured in the same run:

- the reference ceiling: encoding alone (the Encode RPC, batches of 256, nothing stored);
- unary Upsert requests of 64 documents, one after the other (the plain client loop);
- the UpsertStream bulk path (chunks of 256; the server embeds a chunk while the previous one
  commits), into a flat collection and into one that also stores token embeddings.

    .venv/bin/python bench/ingest.py [--documents 100000] [--quick] [--keep DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import chunks, print_table, server_process, sts_sentences

from simsearch.client import Client


def documents(texts: list[str], count: int, prefix: str) -> Iterator[dict[str, Any]]:
    for i in range(count):
        yield {"id": f"{prefix}{i}", "text": texts[i % len(texts)], "metadata": {"n": i}}


def timed(action: Any) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=100_000, help="bulk upsert size")
    parser.add_argument("--baseline", type=int, default=20_000, help="size of the other rows")
    parser.add_argument("--quick", action="store_true", help="10,000 and 2,000 documents")
    parser.add_argument("--keep", type=Path, help="data directory to keep (for end_to_end.py)")
    parser.add_argument("--server-flag", action="append", default=[], help="extra serve flag")
    args = parser.parse_args()
    if args.quick:
        args.documents, args.baseline = 10_000, 2_000
    texts = sts_sentences()
    rows: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="simsearch-ingest-") as scratch:
        data_dir = args.keep or Path(scratch) / "data"
        with (
            server_process(data_dir, *args.server_flag) as address,
            Client(address, timeout=None) as client,
        ):
            info = client.info().model
            print(
                f"model {info.name}, precision {info.precision}, threads {info.threads}; "
                f"{len(texts):,} distinct STS-B sentences"
            )
            baseline = [texts[i % len(texts)] for i in range(args.baseline)]
            client.encode(baseline[:256])  # warm-up
            seconds = timed(lambda: [client.encode(list(c)) for c in chunks(baseline, 256)])
            reference = args.baseline / seconds
            rows.append(
                ["encode only (Encode RPC, 256/request)", args.baseline, seconds, reference, 1.0]
            )

            client.create_collection("unary")
            seconds = timed(
                lambda: client.upsert("unary", documents(texts, args.baseline, "u"), batch_size=64)
            )
            rate = args.baseline / seconds
            rows.append(
                ["Upsert, 64/request, sequential", args.baseline, seconds, rate, rate / reference]
            )

            client.create_collection("stsb")
            seconds = timed(
                lambda: client.upsert_stream("stsb", documents(texts, args.documents, "d"))
            )
            rate = args.documents / seconds
            rows.append(
                ["UpsertStream, chunks of 256", args.documents, seconds, rate, rate / reference]
            )

            client.create_collection("tokens", store_tokens=True)
            seconds = timed(
                lambda: client.upsert_stream("tokens", documents(texts, args.baseline, "t"))
            )
            rate = args.baseline / seconds
            rows.append(
                [
                    "UpsertStream + token vectors stored",
                    args.baseline,
                    seconds,
                    rate,
                    rate / reference,
                ]
            )
            assert client.describe_collection("stsb").count == args.documents
    print_table(
        "Ingest (docs/s; ratio to encoding alone, measured in this run)",
        ["method", "documents", "seconds", "docs/s", "vs encode"],
        rows,
    )


if __name__ == "__main__":
    main()
