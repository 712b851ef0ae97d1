"""What ``PRAGMA quick_check`` costs when a store opens: a store of N rows, timed cold-ish.

Builds a store with the real schema through ``simsearch.index`` (N documents with d-dimensional
embeddings and ~80-character texts), then times ``PRAGMA quick_check`` and a full
``FaissCatalog.open`` (which runs it) on a fresh connection. Not a test: run it by hand.

Usage: python tests/reliability/measure_quick_check.py [ROWS] [DIMENSION]   (defaults 100000 384)
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from simsearch.index import FaissCatalog
from simsearch.types import CollectionSpec, Document, Pooling


def build(root: Path, rows: int, dimension: int) -> Path:
    spec = CollectionSpec("big", Pooling.POOLER, "flat", dimension, "fake", "fake")
    catalog = FaissCatalog(root, checkpoint_every=10 * rows)
    collection = catalog.create(spec)
    rng = np.random.default_rng(0)
    for start in range(0, rows, 5000):
        n = min(5000, rows - start)
        vectors = rng.standard_normal((n, dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        docs = [
            Document(f"doc-{i}", f"text number {i} " + "lorem ipsum dolor " * 4, {"i": i})
            for i in range(start, start + n)
        ]
        collection.upsert(docs, vectors)
    catalog.close()
    return root / "big" / "store.sqlite3"


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    dimension = int(sys.argv[2]) if len(sys.argv) > 2 else 384
    with tempfile.TemporaryDirectory() as folder:
        store = build(Path(folder), rows, dimension)
        size = store.stat().st_size
        timings = []
        for _ in range(3):
            db = sqlite3.connect(store)
            started = time.perf_counter()
            result = db.execute("PRAGMA quick_check").fetchall()
            timings.append(time.perf_counter() - started)
            db.close()
        opens = []
        for _ in range(3):
            started = time.perf_counter()
            catalog = FaissCatalog(Path(folder))
            catalog.open("big")
            opens.append(time.perf_counter() - started)
            catalog.close()
        print(
            f"rows={rows} dimension={dimension} store={size / 2**20:.1f} MiB "
            f"quick_check={result[0][0]} best={min(timings):.3f}s median={sorted(timings)[1]:.3f}s "
            f"collection_open best={min(opens):.3f}s median={sorted(opens)[1]:.3f}s"
        )


if __name__ == "__main__":
    main()
