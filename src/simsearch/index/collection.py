"""FaissCollection: one collection = a SQLite store (the truth) + a FAISS index (derived).

Files in the collection's directory: ``store.sqlite3`` (with its ``-wal`` and ``-shm``) and
``index.faiss``, the snapshot; the folder is 0700 and the files 0600 (``permissions``).

Writes: check the input, commit to the store (the call returns only after COMMIT), then apply
the change to FAISS, then train, compact or checkpoint if due. FAISS is touched only after a
commit succeeded, so a storage failure (``UnavailableError``) leaves both as they were.

Reads: every stored row served (Get, search hits, stored vectors and token vectors, replay) is
checked against its checksums by the store; a damaged row raises ``DataLossError`` naming the
collection and the id, and is never served.

Search: one FAISS call for the batch of queries; labels are joined to the stored id, text and
metadata. Kinds that store vectors lossily (PQ, SQ, PCA/OPQ) ask FAISS for ``k_factor`` times
k candidates and rescore them with the stored embeddings, so every score is the exact cosine
similarity (``min_score`` relies on it) and the k kept are the best of the candidates FAISS
found. ``SearchParams`` (efSearch, nprobe) apply to that one call, see ``kinds``. A filter is a
pre-filter: SQL picks the candidate labels, then

- exact indexes (``"flat"``, or any kind before it is trained) search with an id selector;
- approximate ones search the candidates exactly with numpy over their stored embeddings when
  there are at most ``EXACT_FILTER_LIMIT`` of them (an ANN search restricted to a small set
  misses hits: HNSW's graph and IVF's probed lists hold few of them), else FAISS with an id
  selector.

Checkpoints (snapshots): after ``max(checkpoint_every, count // 4)`` documents changed (rows
inserted plus rows deleted) since the last one, on :meth:`checkpoint` and :meth:`close`, and
after a rebuild, a training or a compaction. The interval grows with the collection so that
rewriting a big index does not dominate a bulk ingest (the snapshots of a growing collection
then add up to about five times its final size, not size²/checkpoint_every); the price is a
replay of at most a quarter of the collection after a crash. Training and compaction run in
the writing call, under the lock.

Calibration (``vector_calibration``, docs/calibration.md): the store keeps the raw vectors;
the index holds them in the collection's ``VectorSpace``: raw until the collection is fitted,
then calibrated by the committed fit (whitening with fewer dimensions makes the index that many
dimensions). Everything that puts vectors into the index or scores against it goes through
the space: upserts, queries (``search`` takes raw normalised vectors), rescoring and exact
filtered search (``_stored_by_label``), replay, rebuilds and training (``recovery``). A fit is
made by the write that brings a collection without one to ``fit_threshold`` documents (or by
the open after a crash right after that write), and by :meth:`calibrate`: the fit is computed
from every stored vector, committed to the store's meta in one transaction, then the index is
rebuilt in the new space and snapshotted. A crash between those steps loses nothing: the
snapshot names the fit it was built under, and one of another fit is rebuilt at the next open.

Threads (see docs/search.md): a reader/writer lock (``locks``) per collection. Searches and
reads share it, so they run at the same time, FAISS included; writes hold it alone, so a reader
never sees half a write, and the index is never changed during a FAISS search (FAISS allows
concurrent searches of an index, not an add or remove during one). The SQLite connection
serves one call at a time: readers take turns on it under a second, short lock (a hit join is
a fraction of a millisecond; a filter's candidate query holds it longer). Concurrent
unfiltered searches of an exact index are gathered into one FAISS call (``gather``), which is
where exact search gains under concurrency: one scan of the vectors for the whole batch. Each
query keeps its own k (the batch asks for the largest, and exact ranking makes a shorter top-k
a prefix of a longer one, see ``vectors``), and its own hits and errors; a batch gathered
from several requests runs on one OpenMP thread (``vectors``). Filtered searches,
and every search of an approximate index, run alone: a filter makes a selector of its own,
and approximate kinds compute parts of their query-side work (IVF's coarse quantizer, PQ
tables, PCA) with BLAS for batches, whose rounding could then change which list a query
probes in a near tie; they are fast enough alone, and search concurrently under the shared
lock. ``concurrent=False`` restores the behaviour before: one search at a time, never
gathered (a benchmark reference).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from simsearch.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    SimsearchError,
    UnavailableError,
)
from simsearch.index import exact, records, recovery
from simsearch.index.filters import filter_sql
from simsearch.index.gather import Gatherer
from simsearch.index.kinds import IndexKind
from simsearch.index.locks import ReadWriteLock
from simsearch.index.permissions import tighten_collection
from simsearch.index.snapshot import Snapshot, remove_temporaries
from simsearch.index.store import Change, Store
from simsearch.index.vector_calibration import (
    MIN_FIT,
    CalibrationFit,
    VectorSpace,
    fit_calibration,
    fit_threshold,
    output_dimension,
)
from simsearch.index.vectors import VectorIndex
from simsearch.types import (
    CalibrationKind,
    CalibrationState,
    CollectionSpec,
    Document,
    FloatArray,
    Hit,
    IntArray,
    SearchParams,
    TokenVectors,
)

__all__ = ["EXACT_FILTER_LIMIT", "SNAPSHOT_FILE", "STORE_FILE", "FaissCollection", "check_index"]

STORE_FILE = "store.sqlite3"
SNAPSHOT_FILE = "index.faiss"
EXACT_FILTER_LIMIT = 10_000

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Gathered:
    """One unfiltered search waiting to be gathered: ``(nq, d)`` queries and its k."""

    queries: FloatArray
    k: int
    params: SearchParams | None


class FaissCollection:
    """A collection (the ``Collection`` protocol of ``simsearch.engine.ports``).

    Open one with :meth:`open` (the catalog does); it is usable until :meth:`close`.
    concurrent: searches share the lock and unfiltered exact ones are gathered (see the module
        docstring); False: one search at a time, each alone.
    """

    def __init__(
        self,
        directory: Path,
        store: Store,
        vectors: VectorIndex,
        space: VectorSpace,
        *,
        checkpoint_every: int,
        concurrent: bool = True,
    ) -> None:
        self._directory = directory
        self._space = space  # changes with self._kind and self._vectors, under the write lock
        self._name = directory.name
        self._store = store
        self._kind = vectors.kind
        self._vectors = vectors
        self._checkpoint_every = checkpoint_every
        self._pending = 0  # documents changed since the last snapshot
        self._lock = ReadWriteLock(shared=concurrent)
        self._store_lock = threading.Lock()  # readers' turns on the SQLite connection
        self._gatherer: Gatherer[_Gathered, list[list[Hit]]] | None = (
            Gatherer(self._search_gathered, lambda search: len(search.queries))
            if concurrent
            else None
        )
        self._closed = False

    @staticmethod
    def initialise(directory: Path, spec: CollectionSpec, created_at: float, uid: str) -> None:
        """Create the store of a new, empty collection in the existing ``directory``."""
        check_index(spec)
        Store.initialise(directory / STORE_FILE, spec, created_at, uid)

    @classmethod
    def open(
        cls, directory: Path, *, checkpoint_every: int, busy_timeout: float, concurrent: bool = True
    ) -> FaissCollection:
        """Open the collection in ``directory``: load its snapshot and replay newer store
        changes, or rebuild the index from the store; UnavailableError if the store is
        unusable."""
        _remove_temporaries(directory / SNAPSHOT_FILE)
        tighten_collection(directory)  # files of older versions were 0644, before SQLite opens
        store = Store.open(directory / STORE_FILE, directory.name, timeout=busy_timeout)
        try:
            space = VectorSpace(_committed_fit(store))
            kind = _kind(store.meta.spec, space.dimension(store.meta.spec.dimension))
            vectors, ahead = recovery.load(store, kind, directory / SNAPSHOT_FILE, space)
        except BaseException:
            store.close()
            raise
        collection = cls(
            directory,
            store,
            vectors,
            space,
            checkpoint_every=checkpoint_every,
            concurrent=concurrent,
        )
        try:
            with collection._writing():
                if ahead:  # rebuilt or replayed: snapshot now, or crashes pile up replays
                    collection._checkpoint_quietly()
                collection._maintain()
        except BaseException:
            collection.discard()
            raise
        return collection

    @property
    def spec(self) -> CollectionSpec:
        return self._store.meta.spec

    @property
    def created_at(self) -> float:
        return self._store.meta.created_at

    def count(self) -> int:
        """Number of live documents (the store's count; the index always agrees)."""
        with self._reading():
            return self._vectors.count

    def upsert(
        self,
        documents: Sequence[Document],
        embeddings: FloatArray,
        tokens: Sequence[TokenVectors] | None = None,
    ) -> None:
        """Insert or replace by id; ``embeddings`` ``(n, d) float32``, L2-normalised, row i for
        ``documents[i]``. Returns once committed; a replaced id gets a new label.

        tokens: each document's token vectors ``(n_tokens, d)`` with their kinds, stored as
        float16 in the same commit as the document; required (one per document) when
        ``spec.store_tokens``, ignored otherwise.
        """
        if self.spec.store_tokens and tokens is None:
            raise InvalidArgumentError(
                f"collection {self._name!r} stores token embeddings: upsert needs tokens, one "
                "per document (the caller must encode them; this is a bug in the caller)"
            )
        kept = tokens if self.spec.store_tokens else None
        rows, vectors = records.rows(documents, embeddings, self.spec.dimension, kept)
        if not rows:
            return
        with self._writing():
            self._apply(self._write(self._store.upsert, rows), vectors)

    def delete(self, ids: Sequence[str]) -> int:
        """Remove documents; unknown ids are ignored. Returns how many existed."""
        with self._writing():
            change = self._write(self._store.delete, list(ids))
            if len(change.removed):
                self._apply(change, np.zeros((0, self.spec.dimension), np.float32))
            return len(change.removed)

    def get(self, ids: Sequence[str]) -> list[Document | None]:
        """Documents in the order asked, None where an id is unknown."""
        with self._reading_store():
            found = self._store.documents(ids)
        return [records.document(i, *found[i]) if i in found else None for i in ids]

    def documents_after(self, after_id: str, limit: int) -> list[Document]:
        """Up to ``limit`` documents whose id sorts after ``after_id``, in id order (code
        points); from the store alone (a keyset page), every row checked."""
        with self._reading_store():
            rows = self._store.documents_after(after_id, limit)
        return [records.document(*row) for row in rows]

    def get_embeddings(self, ids: Sequence[str]) -> FloatArray:
        """Stored embeddings ``(n, d) float32``, row i for ``ids[i]``; NotFoundError names
        unknown ids."""
        with self._reading_store():
            found = self._store.embeddings_by_id(ids)
        missing = [doc_id for doc_id in ids if doc_id not in found]
        if missing:
            raise NotFoundError(f"collection {self._name!r} has no documents with ids {missing}")
        if not ids:
            return np.zeros((0, self.spec.dimension), dtype=np.float32)
        return np.stack([found[doc_id] for doc_id in ids])

    def calibration_state(self) -> CalibrationState:
        """The calibration, its auto-fit threshold and the committed fit, if any."""
        with self._reading():
            fit = self._space.fit
        calibration = self.spec.calibration
        threshold = fit_threshold(calibration, self.spec.dimension)
        if fit is None:
            return CalibrationState(calibration, threshold)
        return CalibrationState(calibration, threshold, True, fit.fitted_at, fit.fitted_on)

    def calibrated(self, vectors: FloatArray) -> FloatArray:
        """Normalised raw vectors ``(n, d) float32`` as the index holds them: calibrated and
        normalised ``(n, k)`` when fitted, the same vectors otherwise."""
        vectors = records.as_vectors(vectors, self.spec.dimension, "vectors")
        with self._reading():
            return self._space.apply(vectors)

    def calibrate(self) -> None:
        """Fit the calibration on every stored vector now, commit the fit, rebuild the index
        in the new space and snapshot it. FailedPreconditionError for calibration none or
        fewer than ``MIN_FIT`` documents."""
        calibration = self.spec.calibration
        if calibration.kind == CalibrationKind.NONE:
            raise FailedPreconditionError(
                f"collection {self._name!r} has calibration none: there is nothing to fit "
                "(create a collection with calibration center or whiten)"
            )
        with self._writing():
            count = self._vectors.count
            if count < MIN_FIT:
                raise FailedPreconditionError(
                    f"collection {self._name!r} has {count} documents; a calibration is fitted "
                    f"on at least {MIN_FIT}"
                )
            self._refit()

    def get_token_vectors(self, ids: Sequence[str]) -> list[TokenVectors]:
        """Stored token vectors in the order asked (ids may repeat), one query for all:
        ``(n_tokens, d) float16`` read-only vectors and ``(n_tokens,) uint8`` kinds.

        NotFoundError names unknown ids; FailedPreconditionError unless ``spec.store_tokens``.
        """
        with self._reading_store():
            if not self.spec.store_tokens:
                raise FailedPreconditionError(
                    f"collection {self._name!r} does not store token embeddings (it was "
                    "created without store_tokens)"
                )
            found = self._store.token_blobs(ids)
        missing = [doc_id for doc_id in dict.fromkeys(ids) if doc_id not in found]
        if missing:
            raise NotFoundError(f"collection {self._name!r} has no documents with ids {missing}")
        return [records.token_vectors(found[doc_id], self.spec.dimension) for doc_id in ids]

    def search(
        self,
        queries: FloatArray,
        k: int,
        filter: Mapping[str, Any] | None = None,
        params: SearchParams | None = None,
    ) -> list[list[Hit]]:
        """Top-k by inner product per row of ``queries`` ``(nq, d) float32`` (normalised).

        Hits are sorted by descending score; fewer than k when fewer documents match (or, for
        approximate kinds, when the index finds fewer). ``filter``: metadata equality, see
        ``simsearch.index.filters``. ``params``: efSearch / nprobe for this call (None keeps
        the collection's); InvalidArgumentError for values never valid, ignored where they do
        not apply to the kind.
        """
        queries = records.as_vectors(queries, self.spec.dimension, "queries")
        if k <= 0:
            raise InvalidArgumentError(f"k must be positive, got {k}")
        self._kind.check(params)
        where = filter_sql(filter) if filter else None
        if where is None and self._gatherer is not None and self._vectors.exact:
            return self._gatherer.submit(_Gathered(queries, k, params))
        with self._reading():
            scores, labels = self._nearest(self._space.apply(queries), k, where, params)
            return self._hits(scores, labels)

    def checkpoint(self) -> None:
        """Write the index snapshot now; UnavailableError if the disk refuses."""
        with self._writing():
            self._checkpoint()

    def close(self) -> None:
        """Checkpoint if anything changed, and release the files. Idempotent."""
        with self._lock.writing():
            if not self._closed:
                if self._pending:
                    self._checkpoint_quietly()
                self._release()

    def discard(self) -> None:
        """Release the files without a checkpoint (the collection is being dropped)."""
        with self._lock.writing():
            if not self._closed:
                self._release()

    # -- writes -----------------------------------------------------------------------------

    def _write(self, write: Callable[[_T], Change], argument: _T) -> Change:
        try:
            return write(argument)
        except UnavailableError:
            self._resync()
            raise

    def _resync(self) -> None:
        """After a failed write: if its COMMIT reached the disk anyway, follow the store."""
        try:
            advanced = self._store.resync()
        except UnavailableError:
            return
        if advanced:
            logger.warning("collection %r: a failed write was committed; rebuilding", self._name)
            self._vectors = recovery.rebuild(self._store, self._kind, self._space)

    def _apply(self, change: Change, vectors: FloatArray) -> None:
        try:
            self._vectors.remove(change.removed)
            self._vectors.add(change.added, self._space.apply(vectors))
        except Exception:
            logger.exception("collection %r: FAISS update failed; rebuilding", self._name)
            self._vectors = recovery.rebuild(self._store, self._kind, self._space)
        self._pending += len(change.added) + len(change.removed)
        self._maintain()
        if self._pending >= max(self._checkpoint_every, self._vectors.count // 4):
            self._checkpoint_quietly()

    def _maintain(self) -> None:
        """Fit a collection that reached its fit threshold; else train a staging index that
        has enough vectors, or compact one with many tombstones."""
        if self._due_for_fit():
            self._fit_quietly()
            return
        if self._vectors.ready_to_train:
            self._vectors = recovery.train(self._store, self._vectors, self._space)
        elif self._vectors.needs_compaction:
            self._vectors = recovery.rebuild(self._store, self._kind, self._space)
        else:
            return
        self._checkpoint_quietly()

    def _due_for_fit(self) -> bool:
        threshold = fit_threshold(self.spec.calibration, self.spec.dimension)
        return bool(threshold) and self._space.fit is None and self._vectors.count >= threshold

    def _fit_quietly(self) -> None:
        """The automatic fit: the write that triggered it is committed whatever happens here,
        so a failure (storage, a damaged row) only logs; the next write or open tries again."""
        try:
            self._refit()
        except SimsearchError as exc:
            logger.warning(
                "collection %r: the automatic calibration fit failed: %s", self._name, exc
            )

    def _refit(self) -> None:
        """Fit on every stored vector, commit the fit, then rebuild the index in its space and
        snapshot it (see the module docstring for why a crash in between loses nothing)."""
        calibration = self.spec.calibration

        def stored() -> Iterator[FloatArray]:
            return (embeddings for _, embeddings in self._store.embeddings_since(0))

        fit = fit_calibration(calibration, stored)
        try:
            self._store.save_fit(fit.to_json())
        except UnavailableError:
            self._follow_committed_fit()
            raise
        self._adopt(VectorSpace(fit))
        logger.info(
            "collection %r: calibration %s fitted on %d documents; index rebuilt",
            self._name,
            calibration.kind.value,
            fit.fitted_on,
        )

    def _follow_committed_fit(self) -> None:
        """After a failed fit commit: if it reached the disk anyway, follow the store."""
        try:
            committed = _committed_fit(self._store)
        except UnavailableError:
            return
        if committed is not None and committed.checksum != self._space.fit_id:
            self._adopt(VectorSpace(committed))

    def _adopt(self, space: VectorSpace) -> None:
        """Rebuild the index in ``space`` from the stored vectors, switch to it, snapshot."""
        kind = _kind(self.spec, space.dimension(self.spec.dimension))
        vectors = recovery.rebuild(self._store, kind, space)
        self._space, self._kind, self._vectors = space, kind, vectors
        self._checkpoint_quietly()

    # -- search -----------------------------------------------------------------------------

    def _search_gathered(self, searches: Sequence[_Gathered]) -> list[list[list[Hit]] | Exception]:
        """Unfiltered searches, gathered (``gather``): one FAISS call for all of them while the
        index is exact, each alone if it stopped being exact (trained) since they queued. Each
        gets its hits or its own error."""
        with self._reading():
            if not self._vectors.exact:
                return [self._answer(search) for search in searches]
            queries = searches[0].queries  # a lone search: its own rows, not a copy
            if len(searches) > 1:
                queries = np.concatenate([search.queries for search in searches])
            queries = self._space.apply(queries)
            k = max(search.k for search in searches)
            scores, labels = self._search(queries, k, None, None, one_thread=len(searches) > 1)
            answers: list[list[list[Hit]] | Exception] = []
            start = 0
            for search in searches:
                rows = slice(start, start + len(search.queries))
                start = rows.stop
                found = scores[rows, : search.k], labels[rows, : search.k]
                answers.append(self._answer(search, found))
            return answers

    def _answer(
        self, search: _Gathered, found: tuple[FloatArray, IntArray] | None = None
    ) -> list[list[Hit]] | Exception:
        """The hits of one search (searched now unless ``found``), or its error."""
        try:
            if found is None:
                queries = self._space.apply(search.queries)
                found = self._search(queries, search.k, None, search.params)
            return self._hits(*found)
        except SimsearchError as exc:
            return exc

    def _nearest(
        self,
        queries: FloatArray,
        k: int,
        where: tuple[str, list[Any]] | None,
        params: SearchParams | None,
    ) -> tuple[FloatArray, IntArray]:
        if where is None:
            return self._search(queries, k, None, params)
        with self._store_lock:
            candidates = self._store.labels_where(*where)
        if self._vectors.exact or len(candidates) > EXACT_FILTER_LIMIT:
            return self._search(queries, k, candidates, params)
        labels, vectors = self._stored_by_label(candidates)
        return exact.top_k(queries, vectors, labels, k)

    def _search(
        self,
        queries: FloatArray,
        k: int,
        allowed: IntArray | None,
        params: SearchParams | None,
        *,
        one_thread: bool = False,
    ) -> tuple[FloatArray, IntArray]:
        """FAISS search; a lossy kind's candidates are rescored with the stored embeddings.
        ``one_thread`` for a batch gathered from several requests (``vectors``)."""
        limit = self._vectors.count if allowed is None else len(allowed)
        if limit == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        return self._vectors.search_rescored(
            queries, min(k, limit), self._stored_by_label, allowed, params, one_thread=one_thread
        )

    def _stored_by_label(self, labels: IntArray) -> tuple[IntArray, FloatArray]:
        """Stored vectors of ``labels`` in the index's space (for rescoring and exact search)."""
        with self._store_lock:
            found, vectors = self._store.embeddings_by_label(labels)
        return found, self._space.apply(vectors)

    def _hits(self, scores: FloatArray, labels: IntArray) -> list[list[Hit]]:
        with self._store_lock:
            rows = self._store.hits(np.unique(labels[labels >= 0]))
        return [
            [
                records.hit(rows[label], score)
                for score, label in zip(score_row.tolist(), label_row.tolist(), strict=True)
                if label in rows
            ]
            for score_row, label_row in zip(scores, labels, strict=True)
        ]

    # -- snapshots and lifecycle ------------------------------------------------------------

    def _checkpoint(self) -> None:
        snapshot = Snapshot(
            uid=self._store.meta.uid,
            dimension=self._kind.dimension,
            index=self._kind.text,
            stage=self._vectors.stage,
            last_change=self._store.last_change,
            index_bytes=self._vectors.to_bytes(),
            tombstones=self._vectors.tombstones,
            fit=self._space.fit_id,
        )
        try:
            snapshot.write(self._directory / SNAPSHOT_FILE)
        except OSError as exc:
            raise UnavailableError(
                f"collection {self._name!r}: could not write the index snapshot ({exc}); "
                "the documents are safe in the store"
            ) from exc
        self._pending = 0
        self._prune(snapshot.last_change)

    def _prune(self, through: int) -> None:
        try:
            self._store.prune_tombstones(through)
        except UnavailableError as exc:
            logger.warning("%s (tombstones are pruned at the next checkpoint)", exc)

    def _checkpoint_quietly(self) -> None:
        """A checkpoint that only logs on failure: the store already holds every change."""
        try:
            self._checkpoint()
        except UnavailableError as exc:
            self._pending = max(self._pending, 1)  # try again at close
            logger.warning("%s", exc)

    def _release(self) -> None:
        self._closed = True
        self._store.close()
        self._vectors = VectorIndex.empty(self._kind)  # free the index memory

    @contextmanager
    def _writing(self) -> Iterator[None]:
        with self._lock.writing():
            self._check_open()
            yield

    @contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock.reading():
            self._check_open()
            yield

    @contextmanager
    def _reading_store(self) -> Iterator[None]:
        """A read that only touches the store: shared lock, then the connection's turn."""
        with self._reading(), self._store_lock:
            yield

    def _check_open(self) -> None:
        if self._closed:
            raise UnavailableError(f"collection {self._name!r} is closed")


def check_index(spec: CollectionSpec) -> None:
    """InvalidArgumentError unless FAISS can build ``spec.index`` for the raw vectors and, when
    the calibration changes the dimension, for the calibrated ones too."""
    IndexKind.parse(spec.index, spec.dimension)
    calibrated = output_dimension(spec.calibration, spec.dimension)
    if calibrated != spec.dimension:
        try:
            IndexKind.parse(spec.index, calibrated)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(
                f"calibration whiten keeping {calibrated} dimensions makes the index hold "
                f"vectors of {calibrated} dimensions once fitted, and index {spec.index!r} "
                f"cannot be built for them: {exc}"
            ) from None


def _kind(spec: CollectionSpec, dimension: int) -> IndexKind:
    """The index kind for vectors of ``dimension`` (the raw one, or the calibrated one)."""
    try:
        return IndexKind.parse(spec.index, dimension)
    except InvalidArgumentError as exc:
        raise UnavailableError(
            f"collection {spec.name!r}: this FAISS cannot build its index: {exc}"
        ) from None


def _committed_fit(store: Store) -> CalibrationFit | None:
    """The store's calibration fit; UnavailableError if it is damaged or does not fit."""
    text = store.fit()
    if text is None:
        return None
    spec = store.meta.spec
    try:
        fit = CalibrationFit.from_json(text)
    except ValueError as exc:
        raise UnavailableError(
            f"collection {spec.name!r}: {exc} in the store {store.path}"
        ) from None
    if fit.calibration != spec.calibration or fit.input_dimension != spec.dimension:
        raise UnavailableError(
            f"collection {spec.name!r}: the store's calibration fit is for {fit.calibration} "
            f"at dimension {fit.input_dimension}, not the collection's {spec.calibration} at "
            f"{spec.dimension}"
        )
    return fit


def _remove_temporaries(path: Path) -> None:
    try:
        remove_temporaries(path)
    except OSError as exc:
        logger.warning("could not remove temporary files next to %s: %s", path, exc)
