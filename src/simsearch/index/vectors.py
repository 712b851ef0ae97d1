"""The FAISS index of one collection: labelled vectors, tombstones and the training stage.

Labels are the store's int64 labels; FAISS's ``-1`` (no result) is passed through to the caller.

- Staging: a kind that needs training (IVF, SQ, PCA/OPQ) starts as an exact
  ``IndexIDMap2(IndexFlatIP)``, so results are exact until there are ``kind.train_size``
  vectors (``max(256, 39 * nlist)``); then the collection replaces it by the kind's own index,
  trained on the stored vectors (see ``recovery.train``).
- Tombstones: an index that cannot remove ids (HNSW) keeps deleted labels as tombstones that
  every search excludes with an id selector, so a deleted label never comes back. When they are
  over ``TOMBSTONE_RATIO`` of the vectors in the index, :attr:`needs_compaction` asks for a
  rebuild from the store.
- Search: one FAISS call per batch of queries, with per-call ``SearchParameters`` (request
  overrides of efSearch / nprobe, id selectors), never by changing the shared index.
- Exact search (``"flat"``, or staging) ranks the candidates itself, so that a query gets the
  same answer alone, inside a batch of other queries and with another k (the collection
  gathers concurrent searches into one batch). FAISS picks its kernel by batch size (BLAS from
  ``BLAS_THRESHOLD``, see below), and the kernels round differently: the same query scored
  1.2e-7 apart alone and in a batch of 16. Its heap also breaks ties by where its k-th place
  falls: of 31 identical vectors, k=10 and k=40 returned different first ten. So FAISS only
  proposes ``k + RANK_MARGIN`` candidates; ``exact.ranked`` rescores them in float64 from
  the indexed vectors and orders them by score, then label (the older document first). Of
  equal vectors FAISS keeps those it scans first, the lowest labels (positions follow labels:
  labels only grow, and removals keep the order), which that order ranks first too; the
  margin covers candidates that rounding alone reorders. The answer depends on nothing but the
  query, k and the index, unless more than RANK_MARGIN distinct vectors lie within float32
  rounding (about 1e-6) of the k-th score.

Threads and BLAS, measured on the 2-core target (queries/s, k=10, each line its own process)::

    exact, 100k x 384                         nq=1   nq=8  nq=64
    FAISS as shipped, 2 OpenMP threads          73    234    234
    BLAS from nq*d >= BLAS_THRESHOLD, 2 threads  -    351   1380
    one OpenMP thread, sequential scan         135    131    127
    numpy matmul + argpartition                125    247    560

    HNSW32, 20k x 384, machine loaded by other processes    nq=1   nq=4
    2 OpenMP threads                                         125  12595
    1 OpenMP thread                                        21823   9125

FAISS 1.15 compares ``nq * d`` with ``distance_compute_blas_threshold`` (128000: BLAS only from
334 queries at d=384), so batches of 8-300 queries took the sequential path, 3-6x slower than
BLAS; we lower it to ``BLAS_THRESHOLD``. The sequential kernel reads every vector once per
query; BLAS reads (and packs) them once per call, which costs about two reads. On one thread,
100k vectors, ms per call (BLAS / sequential)::

    nq           1            2            3            4
    d=384   12.2 /  6.6  13.0 / 12.9  16.6 / 19.1  12.0 / 26.6
    d=768   31.8 / 13.8  32.1 / 27.6  40.0 / 40.5

So BLAS pays from about 3 queries whatever d, and never for one. The setting counts ``nq * d``,
so one value cannot say "3 queries" for every d; ``3 * 384`` does for the bundled model's 384
(batches of 3-7, common when concurrent searches are gathered, scanned 3-7 times before) and
keeps single queries sequential for every d below it (768: BLAS from 2 queries).

Small batches have the opposite problem, the known OpenBLAS/OpenMP one (faiss#53, the FAISS
wiki's "slow brute-force search with OpenBLAS"): with fewer queries than threads FAISS splits
the database over threads that each run OpenBLAS sgemm on one query, and any parallel region
waits for every thread to be scheduled, which on a busy machine costs milliseconds per call.
So batches of fewer than ``SMALL_BATCH`` queries run on one OpenMP thread; the setting is an
OpenMP ICV of the calling thread, so concurrent searches in other threads keep theirs. numpy
was no faster and would add a second thread pool.

Batches gathered from concurrent requests (``gather``) always run on one OpenMP thread
(``one_thread``): the concurrency that gathered them keeps the cores busy already (other
searches, the encoder), and a parallel region waits for each of its threads to be scheduled.
Measured on the 2-core target with other processes running (load average 6-7), 100k x 384,
median per call: nq=8 took 27 ms on one thread and 496 ms (p90 2.5 s) on two; nq=1 13 ms vs
68 ms; nq=64 88 ms vs 512 ms. One thread for 8 queries costs twice one query: BLAS reads the
vectors once for the whole batch. Even on a quiet machine (load average 0.5) a second thread
gained nothing: nq=8 with BLAS 14.2 ms on one thread, 15.4 ms on two; nq=1 6.4 vs 7.5 ms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from simsearch.index import exact
from simsearch.index.kinds import IndexKind, exact_index, search_parameters
from simsearch.types import FloatArray, IntArray, SearchParams

__all__ = [
    "BLAS_THRESHOLD",
    "RANK_MARGIN",
    "SMALL_BATCH",
    "STAGES",
    "TOMBSTONE_RATIO",
    "VectorIndex",
]

TOMBSTONE_RATIO = 0.2
STAGES = ("staging", "native")  # exact until trained; the kind's own index
BLAS_THRESHOLD = 3 * 384  # nq * d from which exact search uses BLAS (see the docstring)
SMALL_BATCH = 4  # fewer queries than this search on one OpenMP thread (see the docstring)
RANK_MARGIN = 32  # exact search ranks k + RANK_MARGIN candidates itself (see the docstring)
_RANK_CHUNK = 1 << 22  # candidate floats ranked at once: 16 MB, whatever k and the batch

# Process-wide FAISS setting, and faiss lives only in this package: set once on import.
faiss.cvar.distance_compute_blas_threshold = BLAS_THRESHOLD


class VectorIndex:
    """A FAISS index over store labels. Searches may run concurrently with each other, never
    with a change (``add``, ``remove``): the collection's reader/writer lock sees to it."""

    def __init__(
        self, kind: IndexKind, index: Any, *, staging: bool, tombstones: Iterable[int] = ()
    ) -> None:
        self.kind = kind
        self.staging = staging
        self.train_size = kind.train_size
        self._index = index
        self._tombstones = {int(label) for label in tombstones}
        self._excluded: tuple[Any, Any] | None = None  # cached IDSelectorNot(Batch(tombstones))

    @classmethod
    def empty(cls, kind: IndexKind) -> VectorIndex:
        """A new index: the kind's own, or an exact staging index if it needs training."""
        if kind.train_size:
            return cls(kind, exact_index(kind.dimension), staging=True)
        return cls(kind, kind.build(), staging=False)

    @classmethod
    def trained(cls, kind: IndexKind, sample: FloatArray) -> VectorIndex:
        """The kind's own index trained on ``sample`` ``(n, d) float32``; RuntimeError if FAISS
        cannot train on it."""
        index = kind.build()
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        return cls(kind, index, staging=False)

    @classmethod
    def from_bytes(
        cls, kind: IndexKind, data: npt.NDArray[np.uint8], *, staging: bool, tombstones: IntArray
    ) -> VectorIndex:
        """Load ``faiss.serialize_index`` bytes; ValueError if they do not fit ``kind``."""
        index = faiss.deserialize_index(data)
        if index.d != kind.dimension or not index.is_trained:
            raise ValueError(f"index has dimension {index.d} and is_trained={index.is_trained}")
        if not staging:
            kind.apply_parameters(index)
        return cls(kind, index, staging=staging, tombstones=tombstones)

    @property
    def count(self) -> int:
        """Live vectors: those in the index minus tombstones."""
        return int(self._index.ntotal) - len(self._tombstones)

    @property
    def stage(self) -> str:
        return STAGES[0] if self.staging else STAGES[1]

    @property
    def exact(self) -> bool:
        """Whether searches are exact (``"flat"``, or staging before training)."""
        return self.staging or self.kind.exact

    @property
    def exact_scores(self) -> bool:
        """Whether search scores are the true inner products (else rescore them)."""
        return self.staging or self.kind.exact_scores

    @property
    def ready_to_train(self) -> bool:
        return self.staging and self.count >= self.train_size

    @property
    def needs_compaction(self) -> bool:
        return len(self._tombstones) > TOMBSTONE_RATIO * max(int(self._index.ntotal), 1)

    @property
    def tombstones(self) -> IntArray:
        return np.array(sorted(self._tombstones), dtype=np.int64)

    def postpone_training(self, count: int) -> None:
        """Training on ``count`` vectors failed (e.g. too few for the kind's codebooks): stay
        exact until twice as many are stored."""
        self.train_size = 2 * max(count, self.train_size)

    def add(self, labels: IntArray, vectors: FloatArray) -> None:
        """Add ``vectors`` ``(n, d) float32`` under ``labels`` ``(n,) int64`` (all new)."""
        if len(labels):
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32),
                np.ascontiguousarray(labels, dtype=np.int64),
            )

    def remove(self, labels: IntArray) -> None:
        """Remove ``labels`` (all present), or tombstone them where the index cannot remove."""
        if not len(labels):
            return
        if self.staging or self.kind.removable:
            self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(labels, dtype=np.int64)))
        else:
            self._tombstones.update(int(label) for label in labels)
            self._excluded = None

    def search(
        self,
        queries: FloatArray,
        k: int,
        allowed: IntArray | None = None,
        params: SearchParams | None = None,
        *,
        one_thread: bool = False,
    ) -> tuple[FloatArray, IntArray]:
        """Top-k per row of ``queries`` ``(nq, d) float32``, one FAISS call for the batch
        (FAISS copies them only if they are not contiguous float32; the collection's are).

        allowed: labels a hit must come from (a metadata pre-filter), or None for all.
        params: efSearch / nprobe for this call (checked by ``IndexKind.check``), None for the
            kind's own; ignored while the index is exact.
        one_thread: one OpenMP thread whatever the batch size (see the module docstring).
        Returns scores ``(nq, k) float32`` (inner products, descending) and labels
        ``(nq, k) int64``, ``-1`` where there is no k-th hit.
        """
        request = None if self.exact else params
        selectors: tuple[Any, ...]  # the selector last, with what it uses: alive until the end
        if allowed is not None:
            selectors = (faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)),)
        elif self._tombstones:
            selectors = self._excluding_tombstones()
        else:
            selectors = (None,)
        search_params = None
        if selectors[-1] is not None or request is not None or (self.kind.graph and not self.exact):
            search_params = search_parameters(self._index, selectors[-1], k, request)
        with _threads_for(1 if one_thread else len(queries)):
            scores, labels = self._index.search(queries, k, params=search_params)
        return scores, labels

    def search_rescored(
        self,
        queries: FloatArray,
        k: int,
        stored: Callable[[IntArray], tuple[IntArray, FloatArray]],
        allowed: IntArray | None = None,
        params: SearchParams | None = None,
        *,
        one_thread: bool = False,
    ) -> tuple[FloatArray, IntArray]:
        """:meth:`search` with exact scores whatever the kind: a lossy kind's top
        ``k * kind.k_factor`` candidates are rescored with their stored embeddings and the k
        best kept. ``stored(labels)`` returns ``(sorted labels, (n, d) float32 embeddings)``
        for those that exist; the others score ``-inf`` and sort last."""
        if self.exact:
            return self._ranked(queries, k, allowed, one_thread)
        if self.exact_scores:
            return self.search(queries, k, allowed, params, one_thread=one_thread)
        fetch = max(k, min(k * self.kind.k_factor, int(self._index.ntotal)))
        _, labels = self.search(queries, fetch, allowed, params, one_thread=one_thread)
        known, vectors = stored(np.unique(labels[labels >= 0]))
        scores, labels = exact.rescore(queries, labels, known, vectors)
        return scores[:, :k], labels[:, :k]

    def _ranked(
        self, queries: FloatArray, k: int, allowed: IntArray | None, one_thread: bool
    ) -> tuple[FloatArray, IntArray]:
        """Exact search whose answer for a query does not depend on the other queries of the
        batch: FAISS's top ``k + RANK_MARGIN`` candidates, ranked by ``exact.ranked``
        (see the module docstring)."""
        fetch = min(k + RANK_MARGIN, int(self._index.ntotal))
        _, candidates = self.search(queries, fetch, allowed, one_thread=one_thread)
        k = min(k, fetch)
        scores = np.empty((len(queries), k), dtype=np.float32)
        labels = np.empty((len(queries), k), dtype=np.int64)
        step = max(1, _RANK_CHUNK // max(fetch * self.kind.dimension, 1))
        for start in range(0, len(queries), step):  # in chunks: (nq, k, d) can be gigabytes
            rows = slice(start, start + step)
            chunk = candidates[rows]
            ranked_scores, ranked_labels = exact.ranked(queries[rows], chunk, self._stored(chunk))
            scores[rows], labels[rows] = ranked_scores[:, :k], ranked_labels[:, :k]
        return scores, labels

    def to_bytes(self) -> npt.NDArray[np.uint8]:
        """``faiss.serialize_index`` of the index (tombstones are kept separately)."""
        data: npt.NDArray[np.uint8] = faiss.serialize_index(self._index)
        return data

    def _excluding_tombstones(self) -> tuple[Any, Any]:
        """``(IDSelectorBatch(tombstones), IDSelectorNot(it))``, cached. Concurrent searches
        may both build it; each keeps the pair it got alive (the cache may be replaced)."""
        excluded = self._excluded
        if excluded is None:
            batch = faiss.IDSelectorBatch(self.tombstones)
            excluded = self._excluded = (batch, faiss.IDSelectorNot(batch))
        return excluded

    def _stored(self, labels: IntArray) -> FloatArray:
        """The indexed vectors ``(*labels.shape, d) float32`` of an exact index (zeros where a
        label is ``-1``)."""
        found = np.zeros((*labels.shape, self.kind.dimension), dtype=np.float32)
        valid = labels >= 0
        unique, position = np.unique(labels[valid], return_inverse=True)
        if len(unique):
            found[valid] = self._index.reconstruct_batch(unique)[position]
        return found


@contextmanager
def _threads_for(queries: int) -> Iterator[None]:
    """One OpenMP thread for a batch smaller than ``SMALL_BATCH``, in the calling thread only
    (``omp_set_num_threads`` sets that thread's ICV), restored afterwards."""
    if queries >= SMALL_BATCH:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
