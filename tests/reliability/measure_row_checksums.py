"""What per-row checksums cost: upsert throughput, Get, Search and token reads, a full rebuild.

Builds a flat collection of N documents (d-dimensional embeddings, ~80-character texts) and one
of 2,000 documents that store 128 token vectors each, through ``simsearch.index``, and times:

- upsert: N documents in batches of 100, documents per second (each batch one fsynced commit);
- get: one id per call, and 100 ids per call;
- search: a flat search, k = 10, one query per call (the hits' rows are read and checked);
- tokens: the token vectors of 100 documents (what a MaxSim rerank by ids reads);
- rebuild: opening the collection with its snapshot deleted (every row's vector read);
- crc: the checksum work alone for one row (content + vector), when the module exists;
- migrate: opening the collection after turning its store back into schema 1 (no checksum
  columns), which adds them and computes every row's checksums (when the module exists).

Latencies are the best of many calls (the least disturbed by other work on a shared machine)
and the median. Not a test: run it by hand, before and after a change to the store (for the
code before it: ``PYTHONPATH=<old>/src``). Usage:
python tests/reliability/measure_row_checksums.py [ROWS] [DIMENSION]   (defaults 20000 384)
"""

from __future__ import annotations

import logging
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from simsearch.index import FaissCatalog
from simsearch.types import CollectionSpec, Document, FloatArray, Pooling, TokenVectors

BATCH = 100
TOKENS = 128


def _vectors(rng: np.random.Generator, n: int, dimension: int) -> FloatArray:
    vectors = rng.standard_normal((n, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _timed_us(call: Callable[[], object], times: int) -> str:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return f"{min(samples) * 1e6:.0f}/{statistics.median(samples) * 1e6:.0f}us"


def _documents(start: int, count: int) -> list[Document]:
    text = " lorem ipsum dolor" * 4
    return [
        Document(f"doc-{i}", f"text number {i}{text}", {"i": i})
        for i in range(start, start + count)
    ]


def _spec(name: str, dimension: int, store_tokens: bool = False) -> CollectionSpec:
    return CollectionSpec(name, Pooling.POOLER, "flat", dimension, "fake", "fake", store_tokens)


def _crc_us(dimension: int) -> str:
    try:
        from simsearch.index.checksums import content_crc, vector_crc
    except ImportError:
        return "n/a"
    embedding = bytes(4 * dimension)
    text = "text number 12345" + " lorem ipsum dolor" * 4
    return _timed_us(
        lambda: (content_crc(12345, "doc-12345", text, '{"i":12345}'), vector_crc(1, embedding)),
        20_000,
    )


def main() -> None:
    logging.disable(logging.WARNING)  # "no snapshot file; rebuilding": expected here
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    dimension = int(sys.argv[2]) if len(sys.argv) > 2 else 384
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        catalog = FaissCatalog(root, checkpoint_every=10 * rows)
        collection = catalog.create(_spec("big", dimension))
        batches = [
            (_documents(start, BATCH), _vectors(rng, BATCH, dimension))
            for start in range(0, rows, BATCH)
        ]
        started = time.perf_counter()
        for documents, vectors in batches:
            collection.upsert(documents, vectors)
        upsert = rows / (time.perf_counter() - started)
        ids = [f"doc-{i}" for i in rng.integers(0, rows, 100)]
        get_one = _timed_us(lambda: collection.get(ids[:1]), 3000)
        get_100 = _timed_us(lambda: collection.get(ids), 500)
        query = _vectors(rng, 1, dimension)
        search = _timed_us(lambda: collection.search(query, 10), 300)

        tokens = catalog.create(_spec("tokens", dimension, store_tokens=True))
        kinds = np.zeros(TOKENS, np.uint8)
        for start in range(0, 2000, BATCH):
            per_doc = [TokenVectors(_vectors(rng, TOKENS, dimension), kinds) for _ in range(BATCH)]
            tokens.upsert(_documents(start, BATCH), _vectors(rng, BATCH, dimension), per_doc)
        token_ids = [f"doc-{i}" for i in rng.integers(0, 2000, 100)]
        token_reads = _timed_us(lambda: tokens.get_token_vectors(token_ids), 100)
        catalog.close()

        rebuilds = []
        for _ in range(3):
            (root / "big" / "index.faiss").unlink()
            started = time.perf_counter()
            reopened = FaissCatalog(root)
            reopened.open("big")
            rebuilds.append(time.perf_counter() - started)
            reopened.close()
        print(
            f"rows={rows} d={dimension} upsert={upsert:,.0f} docs/s | best/median: "
            f"get(1)={get_one} get(100)={get_100} search(k=10)={search} "
            f"tokens(100x{TOKENS})={token_reads} | rebuild best={min(rebuilds):.3f}s | "
            f"crc per row={_crc_us(dimension)} | migrate={_migrate_s(root)}"
        )


def _migrate_s(root: Path) -> str:
    """Seconds to open ``big`` after making its store schema 1 again (its snapshot is current)."""
    try:
        import simsearch.index.checksums  # noqa: F401
    except ImportError:
        return "n/a"
    db = sqlite3.connect(root / "big" / "store.sqlite3", isolation_level=None)
    for column in ("content_crc", "vector_crc"):
        db.execute(f"ALTER TABLE docs DROP COLUMN {column}")
    db.execute("ALTER TABLE tokens DROP COLUMN crc")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    db.close()
    started = time.perf_counter()
    catalog = FaissCatalog(root)
    catalog.open("big")
    elapsed = time.perf_counter() - started
    catalog.close()
    return f"{elapsed:.3f}s"


if __name__ == "__main__":
    main()
