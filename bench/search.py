"""Exact vs approximate search (HNSW, IVF-Flat, IVF-PQ) through ``simsearch.index``.

Run from the repository root::

    .venv/bin/python bench/search.py                    # 100k and 1M vectors, ~10 min on 2 cores
    .venv/bin/python bench/search.py --quick            # 20k vectors, < 1 min
    .venv/bin/python bench/search.py --sizes 1000000 --hnsw-up-to 1000000   # HNSW at 1M too
    .venv/bin/python bench/search.py --sizes 1000000 --hnsw-up-to 1000000 --kinds hnsw

For every index configuration (built once through ``IndexKind`` / ``VectorIndex``, the layer a
collection searches with) it prints the build time (training on a random sample of at most
``recovery.TRAIN_SAMPLE`` vectors, as a collection does, plus adding every vector), the index's
size per vector (its serialised snapshot, about its RAM), and per search setting (given per
request, as ``SearchParams``): recall@10 against exact search on the same queries, and
queries/s one query at a time and in batches of 64, with their ratio to exact search measured
in the same run. Lossy kinds (PQ) rescore ``k_factor * 10`` candidates with the exact vectors,
read here from memory; a collection reads them from its SQLite store, which this bench leaves
out (as it leaves out joining hits to their texts).

The vectors are synthetic and seeded, because uniformly random vectors have no neighbourhood
structure and make every ANN index look worse than on real embeddings: a two-level Gaussian
mixture (topics, then clusters around them, then documents around clusters with per-cluster
spread), L2-normalised; queries are fresh draws from the same mixture.

The HNSW row is ``HNSW32 | efConstruction=64`` (``HNSW_INDEX``), chosen by measurement for
recall@10 >= 0.95 at 1M vectors: FAISS's default efConstruction of 40 leaves the graph short of
neighbours as it grows (recall@10 at efSearch 64 / 128 / 256: 0.988 / 0.992 / 0.995 at 100k,
0.966 / 0.985 / 0.989 at 200k), while 64 gave 0.993 / 1.000 / 1.000 at 200k for about twice
the build time (96 s vs 188 s for 200k on 2 loaded cores). At 1M (``--sizes 1000000
--hnsw-up-to 1000000 --kinds hnsw``): built in 394 s, recall@10 0.944 / 0.990 / 0.992 at
efSearch 64 / 128 / 256; more in docs/search.md.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from simsearch.index import recovery
from simsearch.index.kinds import IndexKind, exact_index
from simsearch.index.vectors import BLAS_THRESHOLD, VectorIndex
from simsearch.types import FloatArray, IntArray, SearchParams

DIMENSION = 384
K = 10
BATCH = 64
TIMED_BATCHES = 8
SEED = 20_26
FAISS_SHIPPED_BLAS_THRESHOLD = 128_000  # faiss 1.15's distance_compute_blas_threshold
Search = Callable[[FloatArray], IntArray]
HNSW_INDEX = "HNSW32 | efConstruction=64"  # see the module docstring
HNSW_EF_SEARCH = (64, 128, 256)
KINDS = ("hnsw", "ivf", "ivfpq")


@dataclass(frozen=True)
class Setup:
    """One index built once, searched with each of ``settings`` (None: the kind's own)."""

    label: str
    index: str
    settings: tuple[SearchParams | None, ...] = (None,)


@dataclass(frozen=True)
class Row:
    label: str
    setting: str
    build_s: float
    bytes_per_vector: float
    recall: float
    qps_one: float
    qps_batch: float


def main() -> None:
    args = _arguments()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    started = time.perf_counter()
    _describe(args)
    for n in args.sizes:
        rows = run_size(n, args)
        _table(n, rows)
        _target(n, rows)
        _log(f"size {n:,} done", started)
    print(f"\nload average at the end: {_load()}; {time.perf_counter() - started:.0f} s in all")


def run_size(n: int, args: argparse.Namespace) -> list[Row]:
    """Every setup at ``n`` vectors; the first row is exact search, the reference."""
    started = time.perf_counter()
    corpus, queries = mixture(n, args.queries, seed=SEED)
    _log(f"n={n:,}: data ready", started)
    exact_setup, *others = setups(n, args)
    rows, truth = exact_rows(corpus, queries, exact_setup, args)
    _log(f"n={n:,}: exact search measured", started)
    for setup in others:
        rows += approximate_rows(corpus, queries, truth, setup, args)
        _log(f"n={n:,}: {setup.label} measured", started)
    return rows


def setups(n: int, args: argparse.Namespace) -> list[Setup]:
    """nlist about sqrt(n) (a power of two); settings from fast to accurate."""
    nlist = 2 ** round(np.log2(np.sqrt(n)))
    probes = tuple(SearchParams(nprobe=p) for p in (8, 16, 32, 64) if p <= nlist)
    chosen = [Setup("exact", "flat")]
    if n <= args.hnsw_up_to and "hnsw" in args.kinds:
        efs = tuple(SearchParams(ef_search=ef) for ef in HNSW_EF_SEARCH)
        chosen.append(Setup("HNSW32 efC=64", HNSW_INDEX, efs))
    if "ivf" in args.kinds:
        chosen.append(Setup(f"IVF{nlist},Flat", f"IVF{nlist},Flat", probes))
    pq = f"IVF{nlist},PQ48x4fs"  # 4-bit fast-scan codes: 24 bytes, quick to train
    if "ivfpq" in args.kinds:
        chosen.append(Setup(f"{pq} k_factor=10", f"{pq} | k_factor=10", probes))
    return chosen


# -- data -------------------------------------------------------------------------------------


def mixture(n: int, n_queries: int, seed: int) -> tuple[FloatArray, FloatArray]:
    """``(n, d)`` documents and ``(n_queries, d)`` queries, float32, L2-normalised rows."""
    rng = np.random.default_rng(seed)
    topics = _normalised(rng.standard_normal((64, DIMENSION), dtype=np.float32))
    n_clusters = max(n // 100, 64)
    parents = rng.integers(0, len(topics), n_clusters)
    noise = rng.standard_normal((n_clusters, DIMENSION), dtype=np.float32)
    clusters = _normalised(topics[parents] + 0.8 * noise / np.sqrt(DIMENSION) * 4)
    spread = rng.uniform(0.8, 1.3, n_clusters).astype(np.float32)
    return _draw(rng, clusters, spread, n), _draw(rng, clusters, spread, n_queries)


def _draw(rng: np.random.Generator, clusters: FloatArray, spread: FloatArray, n: int) -> FloatArray:
    out = np.empty((n, DIMENSION), dtype=np.float32)
    for start in range(0, n, 100_000):  # in chunks: the noise of 1M rows at once is 1.5 GB
        stop = min(start + 100_000, n)
        which = rng.integers(0, len(clusters), stop - start)
        noise = rng.standard_normal((stop - start, DIMENSION), dtype=np.float32)
        noise *= (spread[which] / np.sqrt(DIMENSION))[:, None]
        out[start:stop] = _normalised(clusters[which] + noise)
    return out


def _normalised(vectors: FloatArray) -> FloatArray:
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


# -- measurement ------------------------------------------------------------------------------


def exact_rows(
    corpus: FloatArray, queries: FloatArray, setup: Setup, args: argparse.Namespace
) -> tuple[list[Row], IntArray]:
    """Exact search as simsearch runs it (the reference) and with FAISS's shipped settings."""
    vectors, build_s, size = build(setup.index, corpus)
    search = searcher(vectors, corpus, None)
    truth, qps_batch = batched(search, queries)
    qps_one = one_at_a_time(search, queries, args)
    reference = Row("exact", "flat", build_s, size, 1.0, qps_one, qps_batch)
    del vectors
    raw = exact_index(DIMENSION)  # the same FAISS index, searched without simsearch's choices
    raw.add_with_ids(corpus, np.arange(len(corpus), dtype=np.int64))

    def shipped(batch: FloatArray) -> IntArray:
        faiss.cvar.distance_compute_blas_threshold = FAISS_SHIPPED_BLAS_THRESHOLD
        try:
            labels: IntArray = raw.search(batch, K)[1]
        finally:
            faiss.cvar.distance_compute_blas_threshold = BLAS_THRESHOLD
        return labels

    few = queries[:BATCH]  # the sequential path (below 334 queries) is slow: one batch
    speeds = one_at_a_time(shipped, queries, args), batched(shipped, few)[1]
    return [reference, Row("exact", "FAISS defaults", build_s, size, 1.0, *speeds)], truth


def approximate_rows(
    corpus: FloatArray, queries: FloatArray, truth: IntArray, setup: Setup, args: argparse.Namespace
) -> list[Row]:
    vectors, build_s, size = build(setup.index, corpus)
    rows = []
    for params in setup.settings:
        search = searcher(vectors, corpus, params)
        found, qps_batch = batched(search, queries)
        qps_one = one_at_a_time(search, queries, args)
        rows.append(
            Row(
                setup.label,
                _setting(params),
                build_s,
                size,
                recall(found, truth),
                qps_one,
                qps_batch,
            )
        )
    del vectors
    gc.collect()
    return rows


def build(index: str, corpus: FloatArray) -> tuple[VectorIndex, float, float]:
    """The kind's index holding ``corpus`` (labels 0..n-1), its build seconds and bytes per
    vector."""
    kind = IndexKind.parse(index, DIMENSION)
    started = time.perf_counter()
    if kind.train_size:
        rng = np.random.default_rng(SEED)
        sample = min(len(corpus), recovery.TRAIN_SAMPLE)
        vectors = VectorIndex.trained(kind, corpus[np.sort(rng.choice(len(corpus), sample, False))])
    else:
        vectors = VectorIndex.empty(kind)
    for start in range(0, len(corpus), 100_000):
        stop = min(start + 100_000, len(corpus))
        vectors.add(np.arange(start, stop, dtype=np.int64), corpus[start:stop])
    build_s = time.perf_counter() - started
    return vectors, build_s, vectors.to_bytes().nbytes / len(corpus)


def searcher(vectors: VectorIndex, corpus: FloatArray, params: SearchParams | None) -> Search:
    """Top-k labels per query, exactly as a collection searches (rescoring lossy kinds)."""

    def stored(labels: IntArray) -> tuple[IntArray, FloatArray]:
        return labels, corpus[labels]

    def search(batch: FloatArray) -> IntArray:
        return vectors.search_rescored(batch, K, stored, params=params)[1]

    return search


def batched(search: Search, queries: FloatArray) -> tuple[IntArray, float]:
    """Labels for every query, searched in batches of ``BATCH``, and the queries/s (timing
    full batches, at least ``TIMED_BATCHES`` of them)."""
    search(queries[:BATCH])  # warm up
    found = [search(batch) for batch in _batches(queries, BATCH)]
    full = [batch for batch in _batches(queries, BATCH) if len(batch) == BATCH] or [queries]
    seconds = []
    for batch in itertools.islice(itertools.cycle(full), max(TIMED_BATCHES, len(full))):
        started = time.perf_counter()
        search(batch)
        seconds.append(time.perf_counter() - started)
    return np.concatenate(found), len(full[0]) / _typical(seconds)


def one_at_a_time(search: Search, queries: FloatArray, args: argparse.Namespace) -> float:
    """Queries/s searching one query per call, for ``args.seconds`` or every query."""
    search(queries[:1])
    seconds: list[float] = []
    while len(seconds) < len(queries) and (len(seconds) < 5 or sum(seconds) < args.seconds):
        started = time.perf_counter()
        search(queries[len(seconds) : len(seconds) + 1])
        seconds.append(time.perf_counter() - started)
    return 1 / _typical(seconds)


def _typical(seconds: Sequence[float]) -> float:
    """The median time per call: other processes share the cores, and the median ignores the
    calls they stalled."""
    return float(np.median(seconds))


def recall(found: IntArray, truth: IntArray) -> float:
    hits = sum(len(set(row) & set(expected)) for row, expected in zip(found, truth, strict=True))
    return hits / truth.size


def _batches(queries: FloatArray, size: int) -> Iterator[FloatArray]:
    for start in range(0, len(queries), size):
        yield queries[start : start + size]


def _setting(params: SearchParams | None) -> str:
    if params is None:
        return "-"
    if params.ef_search is not None:
        return f"efSearch={params.ef_search}"
    return f"nprobe={params.nprobe}"


# -- output -----------------------------------------------------------------------------------


def _describe(args: argparse.Namespace) -> None:
    print("simsearch index benchmark: exact vs approximate search, k=10, d=384")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, faiss {faiss.__version__}, "
        f"{faiss.omp_get_max_threads()} OpenMP threads, BLAS from nq*d >= {BLAS_THRESHOLD}"
    )
    print(
        "data: seeded two-level Gaussian mixture (64 topics, n/100 clusters with spread "
        "0.8-1.3), L2-normalised; queries drawn from the same mixture"
    )
    print(
        f"queries: {args.queries} for recall and batches of {BATCH}; one at a time for up to "
        f"{args.seconds:g} s per row; queries/s from the median time per call. Ratios are "
        "against 'exact / flat' in the same run."
    )
    print(
        f"HNSW ({HNSW_INDEX}) is built up to n={args.hnsw_up_to:,} (--hnsw-up-to; 1-3 min per "
        f"100k here); kinds: {', '.join(args.kinds)}"
    )
    print(
        f"load average at the start: {_load()} (other processes share these cores: compare "
        "rows within one run, not across runs)"
    )


def _table(n: int, rows: Sequence[Row]) -> None:
    reference = rows[0]
    header = ["index", "search", "build s", "bytes/vec", "recall@10"]
    header += ["q/s @1", "x exact", "q/s @64", "x exact"]
    cells = [header] + [
        [
            row.label,
            row.setting,
            f"{row.build_s:.1f}",
            f"{row.bytes_per_vector:.0f}",
            f"{row.recall:.3f}",
            f"{row.qps_one:.0f}",
            f"{row.qps_one / reference.qps_one:.1f}",
            f"{row.qps_batch:.0f}",
            f"{row.qps_batch / reference.qps_batch:.1f}",
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    print(f"\nn = {n:,} vectors")
    for number, line in enumerate(cells):
        text = [line[0].ljust(widths[0]), line[1].ljust(widths[1])]
        text += [value.rjust(width) for value, width in zip(line[2:], widths[2:], strict=True)]
        print("  ".join(text))
        if number == 0:
            print("  ".join("-" * width for width in widths))


def _target(n: int, rows: Sequence[Row]) -> None:
    """The issue's target: recall@10 >= 0.95 at >= 10x the queries/s of exact search."""
    reference = rows[0]
    for name, speed in (("one at a time", "qps_one"), ("in batches of 64", "qps_batch")):
        good = [row for row in rows[1:] if row.label != "exact" and row.recall >= 0.95]
        best = max(good, key=lambda row: getattr(row, speed), default=None)
        if best is None:
            print(f"target ({name}): no approximate setting reaches recall@10 0.95")
            continue
        ratio = getattr(best, speed) / getattr(reference, speed)
        verdict = "met" if ratio >= 10 else "NOT met"
        print(
            f"target ({name}) {verdict} at n={n:,}: {best.label} {best.setting}, recall@10 "
            f"{best.recall:.3f}, {ratio:.1f}x exact"
        )


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def _log(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated sizes")
    parser.add_argument("--quick", action="store_true", help="20k vectors, fewer queries")
    parser.add_argument("--queries", type=int, default=500, help="queries for recall")
    parser.add_argument("--seconds", type=float, default=2.0, help="per one-at-a-time row")
    parser.add_argument("--hnsw-up-to", type=int, default=200_000, help="largest n for HNSW")
    parser.add_argument("--threads", type=int, default=0, help="OpenMP threads (0: FAISS's)")
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help=f"approximate kinds to build: {','.join(KINDS)}"
    )
    args = parser.parse_args()
    args.sizes = [int(size) for size in args.sizes.split(",")]
    args.kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    if unknown := set(args.kinds) - set(KINDS):
        parser.error(f"unknown kinds {sorted(unknown)}; choose from {','.join(KINDS)}")
    if args.quick:
        args.sizes, args.queries, args.seconds = [20_000], 256, 0.5
    return args


if __name__ == "__main__":
    main()
