"""Collections on Milvus (milvus-lite and a real Milvus 2.3 server) against FAISS.

Run from the repository root::

    .venv/bin/python bench/milvus.py                 # 100k documents, HNSW32 and flat
    .venv/bin/python bench/milvus.py --quick         # 10k documents, 30 queries, ~4 min
    .venv/bin/python bench/milvus.py --milvus-uri http://127.0.0.1:19530   # an existing server
    .venv/bin/python bench/milvus.py --quick --compare-ef 16   # filtered ef floor against ef 16

Every store gets the same documents: L2-normalised float32 vectors of the bundled model's
dimension (384) drawn from ``bench/search.py``'s seeded two-level Gaussian mixture (uniformly
random vectors have no neighbourhoods, which makes every ANN index look broken), short texts
and a metadata field
``group`` (10 values). They are written through the ``Collection`` protocol in upserts of 256
(the engine's default batch), timed as documents/s. Then, through the same protocol, single
queries with k=10: latency p50/p99 unfiltered and filtered on ``group`` (a tenth matches), and
recall@10 against exact numpy search. Stores are searched in turn, query by query, so the
load of the machine spreads over all of them. "server Bounded" is the same server collection
read at pymilvus' default consistency (not what simsearch runs: it can miss a write that was
acknowledged); its difference to "server Strong" is the price of acknowledged-means-searchable.

Strong reads wait for the server's next time tick (``proxy.timeTickInterval``, 200 ms by
default; ``--time-tick-ms`` sets it for the server started here). The real server is started
by ``tests/support/milvus_server.py`` (own process group, free ports, data in a temporary
directory) unless ``--milvus-uri`` is given. Its memory (RSS of the server process) and the
data directory's size are read before and after loading, for the sizing figures of
docs/scale-out.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
from common import percentile, print_table  # noqa: E402  (bench/ is the script's folder)
from search import mixture  # noqa: E402  (the same data as bench/search.py)

# This file is named like the ``milvus`` package (the server binaries that
# tests/support/milvus_server.py runs): take bench/ off the path so that import finds the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT / "tests"))

from simsearch.engine.ports import Collection  # noqa: E402
from simsearch.index import FaissCatalog  # noqa: E402
from simsearch.index.milvus import MilvusCatalog  # noqa: E402
from simsearch.types import CollectionSpec, Document, Pooling, SearchParams  # noqa: E402

DIMENSION = 384
K = 10
BATCH = 256
GROUPS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="10k documents, 30 queries")
    parser.add_argument(
        "--lite-queries",
        type=int,
        default=20,
        help="queries milvus-lite answers (it searches in Python: ~1 s a query at 10k)",
    )
    parser.add_argument("--index", action="append", help="index kinds (default HNSW32, flat)")
    parser.add_argument("--milvus-uri", default="", help="an existing server instead of one")
    parser.add_argument(
        "--compare-ef",
        type=int,
        default=0,
        help="also search the server collection with this request ef (e.g. 16: the default "
        "before filtered HNSW searches got kinds.FILTERED_EF_FLOOR), alternated with the rest",
    )
    parser.add_argument(
        "--time-tick-ms",
        type=int,
        default=200,
        help="proxy.timeTickInterval of the server started (Milvus' default 200)",
    )
    args = parser.parse_args()
    if args.quick:
        args.docs, args.queries = 10_000, 30
    kinds = args.index or ["HNSW32", "flat"]
    print(
        f"{platform.node()}: {os.cpu_count()} cores, {args.docs:,} documents, d={DIMENSION}, "
        f"server time tick {args.time_tick_ms} ms"
    )
    vectors, queries = mixture(args.docs, args.queries, seed=2026)
    docs = [Document(f"doc-{i}", f"document {i}", {"group": i % GROUPS}) for i in range(args.docs)]
    exact = _exact(vectors, queries, None)
    exact_filtered = _exact(vectors, queries, np.arange(args.docs) % GROUPS == 3)
    with (
        tempfile.TemporaryDirectory(prefix="bench-milvus-") as scratch,
        _Server(args.milvus_uri, Path(scratch), args.time_tick_ms) as (uri, pid, data_dir),
    ):
        for kind in kinds:
            _bench_kind(
                args.lite_queries,
                args.compare_ef,
                kind,
                uri,
                pid,
                data_dir,
                Path(scratch),
                docs,
                vectors,
                queries,
                exact,
                exact_filtered,
            )


def _bench_kind(
    lite_queries: int,
    compare_ef: int,
    kind: str,
    uri: str,
    pid: int | None,
    data_dir: Path | None,
    scratch: Path,
    docs: list[Document],
    vectors: np.ndarray,
    queries: np.ndarray,
    exact: list[list[str]],
    exact_filtered: list[list[str]],
) -> None:
    name = f"bench-{kind.replace(',', '-').lower()}"
    spec = CollectionSpec(name, Pooling.MEAN, kind, DIMENSION, "bench", "bench")
    faiss_catalog = FaissCatalog(scratch / f"faiss-{name}")
    lite_catalog = MilvusCatalog(str(scratch / f"lite-{name}.db"), timeout=600)
    server_catalog = MilvusCatalog(uri, timeout=600)
    bounded_catalog = MilvusCatalog(uri, timeout=600, consistency="Bounded")
    if name in server_catalog.names():
        server_catalog.drop(name)
    stores: dict[str, Collection] = {
        "FAISS": faiss_catalog.create(spec),
        "milvus-lite": lite_catalog.create(spec),
        "server Strong": server_catalog.create(spec),
    }
    rss_before, disk_before = _rss(pid), _disk(data_dir)
    rows = {}
    for store, collection in stores.items():
        started = time.perf_counter()
        for start in range(0, len(docs), BATCH):
            collection.upsert(docs[start : start + BATCH], vectors[start : start + BATCH])
        rows[store] = {"docs/s": len(docs) / (time.perf_counter() - started)}
    stores["server Bounded"] = bounded_catalog.open(name)
    rows["server Bounded"] = {"docs/s": float("nan")}
    params: dict[str, SearchParams] = {}
    if compare_ef:
        label = f"server Strong ef={compare_ef}"
        stores[label], params[label] = stores["server Strong"], SearchParams(ef_search=compare_ef)
        rows[label] = {"docs/s": float("nan")}
    _wait_indexed(server_catalog, name, len(docs))
    rss_after, disk_after = _rss(pid), _disk(data_dir)
    for filtered, truth in ((False, exact), (True, exact_filtered)):
        _search(stores, params, rows, queries, truth, filtered, lite_queries)
    header = ["store", "upsert docs/s"]
    for label in ("unfiltered", "filtered"):
        header += [f"{label} p50 ms", f"{label} p99 ms", f"{label} recall@10"]
    table = [[store, *values.values()] for store, values in rows.items()]
    print_table(f"index {kind!r}, {len(docs):,} documents, k={K}", header, table)
    if pid is not None:
        per_vector = (rss_after - rss_before) / len(docs)
        print(
            f"server RSS +{(rss_after - rss_before) / 2**20:,.0f} MiB ({per_vector:,.0f} B per "
            f"document, {per_vector * 1e6 / 2**30:,.2f} GiB per million; raw vector "
            f"{4 * DIMENSION} B); data dir +{(disk_after - disk_before) / 2**20:,.0f} MiB"
        )
    server_catalog.drop(name)
    for catalog in (faiss_catalog, lite_catalog, server_catalog, bounded_catalog):
        catalog.close()


def _search(
    stores: dict[str, Collection],
    params: dict[str, SearchParams],
    rows: dict[str, dict[str, float]],
    queries: np.ndarray,
    truth: list[list[str]],
    filtered: bool,
    lite_queries: int,
) -> None:
    """Latency p50/p99 and recall@10 of single queries into ``rows``, stores in turn
    (milvus-lite only for the first ``lite_queries``), with the request ``params`` of a store."""
    times: dict[str, list[float]] = {store: [] for store in stores}
    recalls: dict[str, list[float]] = {store: [] for store in stores}
    for row, query in enumerate(queries):
        for store, collection in stores.items():  # in turn: the machine's load spreads
            if store == "milvus-lite" and row >= lite_queries:
                continue
            started = time.perf_counter()
            wanted = {"group": 3} if filtered else None
            hits = collection.search(query[None], K, wanted, params.get(store))[0]
            times[store].append(time.perf_counter() - started)
            recalls[store].append(len({hit.id for hit in hits} & set(truth[row])) / K)
    label = "filtered" if filtered else "unfiltered"
    for store in stores:
        rows[store][f"{label} p50 ms"] = 1000 * percentile(times[store], 50)
        rows[store][f"{label} p99 ms"] = 1000 * percentile(times[store], 99)
        rows[store][f"{label} recall@10"] = float(np.mean(recalls[store]))


def _wait_indexed(catalog: MilvusCatalog, name: str, count: int, limit: float = 600) -> None:
    """Flush and wait for the server's index over every row, so searches use it."""
    from simsearch.index.milvus.names import to_milvus

    client = catalog._client
    milvus_name = to_milvus(name)
    client.flush(milvus_name)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        info = client.describe_index(milvus_name, "embedding")
        if int(info.get("indexed_rows", 0)) >= count or info.get("index_type") == "FLAT":
            return
        time.sleep(1)


class _Server:
    """The given server, or one started for the run (pid and data dir known then)."""

    def __init__(self, uri: str, scratch: Path, time_tick_ms: int) -> None:
        self._uri, self._scratch, self._time_tick_ms = uri, scratch, time_tick_ms
        self._server: Any = None

    def __enter__(self) -> tuple[str, int | None, Path | None]:
        if self._uri:
            return self._uri, None, None
        from support.milvus_server import start_milvus

        self._server = start_milvus(self._scratch / "server", time_tick_ms=self._time_tick_ms)
        return self._server.uri, self._server.pid, self._server.data_dir

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()


def _exact(vectors: np.ndarray, queries: np.ndarray, mask: np.ndarray | None) -> list[list[str]]:
    scores = queries @ vectors.T
    if mask is not None:
        scores[:, ~mask] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return [[f"doc-{i}" for i in row] for row in top]


def _rss(pid: int | None) -> int:
    if pid is None:
        return 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _disk(path: Path | None) -> int:
    if path is None:
        return 0
    return sum(f.stat().st_size for f in (path / "data").rglob("*") if f.is_file())


if __name__ == "__main__":
    main()
