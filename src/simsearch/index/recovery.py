"""Bringing a collection's FAISS index up to date with its store (the truth).

- :func:`load`: the snapshot, if it is intact and belongs to this store, plus a replay of the
  store's newer changes (rows written and labels tombstoned after the snapshot's
  ``last_change``); otherwise a warning and a :func:`rebuild`.
- :func:`rebuild`: a fresh index from the stored embeddings (texts are never re-encoded),
  trained first when the kind needs it and there are enough vectors.
- :func:`train`: replace an exact staging index by the kind's own, trained on up to
  ``TRAIN_SAMPLE`` stored vectors drawn at random, then filled with every stored vector.

Each takes the collection's ``VectorSpace``: the store holds raw vectors, the index holds them
calibrated by the committed fit (``vector_calibration``), so every vector read from the store
on its way into the index (replay, rebuild, training sample) goes through ``space.apply``, and
a snapshot built under another fit (its ``fit`` checksum) is rebuilt, never trusted.
"""

from __future__ import annotations

import logging
from pathlib import Path

from simsearch.errors import UnavailableError
from simsearch.index.kinds import TRAIN_SAMPLE, IndexKind
from simsearch.index.snapshot import Snapshot, SnapshotError, read_snapshot
from simsearch.index.store import Store
from simsearch.index.vector_calibration import VectorSpace
from simsearch.index.vectors import STAGES, VectorIndex

__all__ = ["TRAIN_SAMPLE", "load", "rebuild", "train"]

logger = logging.getLogger(__name__)


def load(store: Store, kind: IndexKind, path: Path, space: VectorSpace) -> tuple[VectorIndex, bool]:
    """The index for ``store`` and whether it is ahead of its snapshot file (rebuilt, or store
    changes replayed): then the caller checkpoints it, so replays never pile up over crashes."""
    try:
        vectors, last_change = _from_snapshot(store, kind, path, space)
        return vectors, last_change < store.last_change
    except SnapshotError as exc:
        if store.last_change:  # a new collection has no snapshot: nothing to warn about
            logger.warning(
                "collection %r: snapshot %s is unusable (%s); rebuilding the index from the "
                "store's %d documents",
                store.meta.spec.name,
                path,
                exc,
                store.count(),
            )
    return rebuild(store, kind, space), True


def rebuild(store: Store, kind: IndexKind, space: VectorSpace) -> VectorIndex:
    """A new index holding every stored embedding (in ``space``); tombstones are gone."""
    vectors = VectorIndex.empty(kind)
    if vectors.staging and store.count() >= vectors.train_size:
        trained = _trained(store, kind, space)
        if trained is not None:
            return _filled(store, trained, space)
        vectors.postpone_training(store.count())
    return _filled(store, vectors, space)


def train(store: Store, staging: VectorIndex, space: VectorSpace) -> VectorIndex:
    """The kind's trained index with every stored vector, or ``staging`` itself (training
    postponed) if FAISS cannot train on the stored vectors."""
    trained = _trained(store, staging.kind, space)
    if trained is None:
        staging.postpone_training(staging.count)
        return staging
    return _filled(store, trained, space)


def replay(store: Store, vectors: VectorIndex, since: int, space: VectorSpace) -> None:
    """Apply the store's changes after ``since`` to an index that includes exactly ``since``."""
    vectors.remove(store.tombstones_since(since))
    for labels, embeddings in store.embeddings_since(since):
        vectors.add(labels, space.apply(embeddings))


def _from_snapshot(
    store: Store, kind: IndexKind, path: Path, space: VectorSpace
) -> tuple[VectorIndex, int]:
    """The snapshot's index with the store's newer changes replayed, and its ``last_change``."""
    snapshot = read_snapshot(path)
    _check_belongs(snapshot, store, kind)
    if snapshot.fit != space.fit_id:
        raise SnapshotError(
            f"it was built under calibration fit {snapshot.fit[:12] or 'none'!r}, the store's "
            f"is {space.fit_id[:12] or 'none'!r}"
        )
    try:
        vectors = VectorIndex.from_bytes(
            kind,
            snapshot.index_bytes,
            staging=snapshot.stage == "staging",
            tombstones=snapshot.tombstones,
        )
    except (RuntimeError, ValueError) as exc:
        raise SnapshotError(f"FAISS cannot load its index: {exc}") from None
    replay(store, vectors, snapshot.last_change, space)
    if vectors.count != store.count():
        raise SnapshotError(f"after replay it has {vectors.count} vectors for {store.count()}")
    return vectors, snapshot.last_change


def _check_belongs(snapshot: Snapshot, store: Store, kind: IndexKind) -> None:
    expected = {"uid": store.meta.uid, "dimension": kind.dimension, "index": kind.text}
    for field, value in expected.items():
        if getattr(snapshot, field) != value:
            raise SnapshotError(f"it has {field} {getattr(snapshot, field)!r}, not {value!r}")
    if snapshot.last_change > store.last_change:
        # The snapshot is intact (checksummed) and only ever holds committed changes, so the
        # store has lost acknowledged writes (e.g. a cut -wal file). Serving would hide that.
        raise UnavailableError(
            f"collection {store.meta.spec.name!r}: the store {store.path} is at change "
            f"{store.last_change} but its index snapshot holds change {snapshot.last_change}: "
            "the store has lost acknowledged writes (a damaged or truncated -wal file?). "
            "Restore the collection from a backup, or delete its index.faiss to accept the loss "
            "and rebuild the index from what the store holds"
        )
    if snapshot.stage not in STAGES or (snapshot.stage == "staging" and not kind.train_size):
        raise SnapshotError(f"stage {snapshot.stage!r} does not fit index {kind.text!r}")


def _trained(store: Store, kind: IndexKind, space: VectorSpace) -> VectorIndex | None:
    sample = space.apply(store.sample_embeddings(TRAIN_SAMPLE))
    try:
        return VectorIndex.trained(kind, sample)
    except RuntimeError as exc:
        logger.warning(
            "collection %r: FAISS could not train %r on %d vectors (%s); searching exactly "
            "until there are twice as many",
            store.meta.spec.name,
            kind.text,
            len(sample),
            exc,
        )
        return None


def _filled(store: Store, vectors: VectorIndex, space: VectorSpace) -> VectorIndex:
    for labels, embeddings in store.embeddings_since(0):
        vectors.add(labels, space.apply(embeddings))
    return vectors
