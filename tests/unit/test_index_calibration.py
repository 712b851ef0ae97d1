"""A FAISS collection's vector calibration: the auto fit, refits, every scoring path in the
calibrated space, reopening, and crash safety between the steps of a refit."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from simsearch.errors import FailedPreconditionError, InvalidArgumentError, UnavailableError
from simsearch.index import FaissCatalog, FaissCollection
from simsearch.index.collection import SNAPSHOT_FILE
from simsearch.index.snapshot import read_snapshot
from simsearch.index.store import Store
from simsearch.index.vector_calibration import CENTER_THRESHOLD
from simsearch.types import Calibration, CalibrationKind, CollectionSpec, FloatArray
from unit.index_fixtures import DIMENSION, Corpus, assert_same_hits, brute_force, spec

CENTER = Calibration(CalibrationKind.CENTER)
WHITEN = Calibration(CalibrationKind.WHITEN)
K = 10


def calibrated_spec(calibration: Calibration, index: str = "flat") -> CollectionSpec:
    return dataclasses.replace(spec(index=index), calibration=calibration)


def cone(n: int, seed: int) -> FloatArray:
    """Unit vectors crowded into a cone with correlated coordinates (as raw pooler vectors)."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(99).standard_normal((DIMENSION, DIMENSION))
    vectors = rng.standard_normal((n, DIMENSION)) @ mixing + 6.0 * np.linspace(1, 2, DIMENSION)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def ids(start: int, stop: int) -> list[str]:
    return [f"doc-{i}" for i in range(start, stop)]


Space = tuple[FloatArray, FloatArray]  # float64 (mean, W)


def numpy_space(corpus: Corpus, calibration: Calibration) -> Space:
    """The reference calibration fitted with plain numpy on the corpus: ``(mean, W)``."""
    x = np.stack([corpus.vectors[i] for i in sorted(corpus.vectors)]).astype(np.float64)
    mean = x.mean(axis=0)
    if calibration.kind == CalibrationKind.CENTER:
        return mean, np.eye(DIMENSION)
    u, s, _ = np.linalg.svd(np.cov(x.T, bias=True))
    w = u / np.sqrt(s)
    return mean, w[:, : calibration.dimensions] if calibration.dimensions else w


def apply(space: Space, vectors: FloatArray) -> FloatArray:
    mean, w = space
    out = (vectors.astype(np.float64) - mean) @ w
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def expected(
    corpus: Corpus, queries: FloatArray, space: Space, k: int = K
) -> list[list[tuple[str, float]]]:
    every = sorted(corpus.vectors)
    stored = apply(space, np.stack([corpus.vectors[i] for i in every]))
    return brute_force(apply(space, queries), every, stored, k)


def filled(
    tmp_path: Path, calibration: Calibration, n: int, index: str = "flat"
) -> tuple[FaissCollection, Corpus]:
    collection = FaissCatalog(tmp_path, checkpoint_every=10**6).create(
        calibrated_spec(calibration, index)
    )
    corpus = Corpus.empty()
    for start in range(0, n, 250):
        stop = min(n, start + 250)
        corpus.upsert(collection, ids(start, stop), cone(stop - start, seed=start))
    return collection, corpus


def test_the_write_reaching_the_threshold_fits_center(tmp_path: Path) -> None:
    collection, corpus = filled(tmp_path, CENTER, CENTER_THRESHOLD - 1)
    state = collection.calibration_state()
    assert (state.fitted, state.fit_threshold, state.calibration) == (False, 1000, CENTER)
    queries = cone(5, seed=1000)
    assert_same_hits(collection.search(queries, K), corpus.expected(queries, K))  # raw
    corpus.upsert(collection, ids(2000, 2001), cone(1, seed=2000))
    state = collection.calibration_state()
    assert state.fitted and state.fitted_on == CENTER_THRESHOLD and state.fitted_at > 0
    space = numpy_space(corpus, CENTER)
    calibrated = expected(corpus, queries, space)
    raw = corpus.expected(queries, K)
    assert [[i for i, _ in row] for row in calibrated] != [[i for i, _ in row] for row in raw]
    assert_same_hits(collection.search(queries, K), calibrated)
    np.testing.assert_allclose(collection.calibrated(queries), apply(space, queries), atol=1e-5)
    # The store keeps the raw vectors, and serves them.
    np.testing.assert_array_equal(
        collection.get_embeddings(["doc-7"]), corpus.vectors["doc-7"][None]
    )


def test_writes_after_the_fit_are_calibrated_with_it(tmp_path: Path) -> None:
    collection, corpus = filled(tmp_path, CENTER, CENTER_THRESHOLD)
    space = numpy_space(corpus, CENTER)  # the fit: later writes do not refit
    corpus.upsert(collection, ids(5000, 5100), cone(100, seed=5000))
    corpus.delete(collection, ids(0, 50))
    queries = cone(5, seed=1)
    assert_same_hits(collection.search(queries, K), expected(corpus, queries, space))


def test_whiten_keeping_fewer_dimensions_builds_a_smaller_index(tmp_path: Path) -> None:
    calibration = Calibration(CalibrationKind.WHITEN, 8)
    collection, corpus = filled(tmp_path, calibration, 1000)
    assert collection.calibration_state().fitted
    assert collection._vectors.kind.dimension == 8
    assert read_snapshot(tmp_path / "docs" / SNAPSHOT_FILE).dimension == 8
    queries = cone(6, seed=3)
    space = numpy_space(corpus, calibration)
    assert_same_hits(collection.search(queries, K), expected(corpus, queries, space), atol=1e-4)
    assert collection.calibrated(queries).shape == (6, 8)
    assert collection.get_embeddings(["doc-1"]).shape == (1, DIMENSION)


def test_explicit_calibrate_refits_on_the_current_documents(tmp_path: Path) -> None:
    collection, corpus = filled(tmp_path, WHITEN, 300)
    assert not collection.calibration_state().fitted  # below max(1000, 2d)
    collection.calibrate()
    first = collection.calibration_state()
    assert first.fitted and first.fitted_on == 300
    queries = cone(5, seed=4)
    space = numpy_space(corpus, WHITEN)
    assert_same_hits(collection.search(queries, K), expected(corpus, queries, space), atol=1e-4)
    corpus.upsert(collection, ids(300, 600), cone(300, seed=300) * -1)
    collection.calibrate()
    assert collection.calibration_state().fitted_on == 600
    space = numpy_space(corpus, WHITEN)
    assert_same_hits(collection.search(queries, K), expected(corpus, queries, space), atol=1e-4)


def test_calibrate_refuses_none_and_too_few_documents(tmp_path: Path) -> None:
    catalog = FaissCatalog(tmp_path)
    plain = catalog.create(spec(name="plain"))
    with pytest.raises(FailedPreconditionError, match="nothing to fit"):
        plain.calibrate()
    assert plain.calibrated(cone(2, seed=1)).shape == (2, DIMENSION)
    centred = catalog.create(dataclasses.replace(spec(name="centred"), calibration=CENTER))
    Corpus.empty().upsert(centred, ["doc-1"], cone(1, seed=1))
    with pytest.raises(FailedPreconditionError, match="at least 2"):
        centred.calibrate()


def test_create_refuses_an_index_that_cannot_take_the_kept_dimensions(tmp_path: Path) -> None:
    catalog = FaissCatalog(tmp_path)
    calibration = Calibration(CalibrationKind.WHITEN, 8)
    with pytest.raises(InvalidArgumentError, match="keeping 8 dimensions"):
        catalog.create(calibrated_spec(calibration, "PCA16,Flat"))
    assert catalog.names() == []


@pytest.mark.parametrize("index", ["HNSW16 | efSearch=128", "IVF4,SQ8 | nprobe=4", "IVF4,PQ8x4"])
def test_filtered_and_lossy_searches_score_in_the_calibrated_space(
    tmp_path: Path, index: str
) -> None:
    collection, corpus = filled(tmp_path, WHITEN, 1000, index)
    assert collection.calibration_state().fitted and not collection._vectors.staging
    space = numpy_space(corpus, WHITEN)
    queries = cone(5, seed=6)
    # Filtered: exact numpy over the candidates (few of them) or FAISS with a selector.
    want = {"group": 1}
    ids_in = [i for i in sorted(corpus.vectors) if corpus.metadata[i]["group"] == 1]
    stored = apply(space, np.stack([corpus.vectors[i] for i in ids_in]))
    assert_same_hits(
        collection.search(queries, K, want),
        brute_force(apply(space, queries), ids_in, stored, K),
        atol=1e-4,
    )
    # Unfiltered: every score is the exact calibrated cosine (rescored for lossy kinds).
    hits = collection.search(queries, K)
    for query, row in zip(apply(space, queries), hits, strict=True):
        assert len(row) == K
        scores = [float(apply(space, corpus.vectors[hit.id][None])[0] @ query) for hit in row]
        np.testing.assert_allclose([hit.score for hit in row], scores, atol=1e-4)


def test_reopen_uses_the_snapshot_of_the_same_fit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    collection, corpus = filled(tmp_path, CENTER, 1000)
    fit_id = collection._space.fit_id
    collection.close()
    assert read_snapshot(tmp_path / "docs" / SNAPSHOT_FILE).fit == fit_id
    with caplog.at_level(logging.WARNING, logger="simsearch.index"):
        reopened = FaissCatalog(tmp_path).open("docs")
    assert not caplog.records  # loaded, not rebuilt
    assert reopened._space.fit_id == fit_id
    queries = cone(4, seed=7)
    space = numpy_space(corpus, CENTER)
    assert_same_hits(reopened.search(queries, K), expected(corpus, queries, space))


def test_a_snapshot_of_another_fit_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    collection, corpus = filled(tmp_path, CENTER, 1000)
    collection.close()
    path = tmp_path / "docs" / SNAPSHOT_FILE
    dataclasses.replace(read_snapshot(path), fit="f" * 64).write(path)
    with caplog.at_level(logging.WARNING, logger="simsearch.index"):
        reopened = FaissCatalog(tmp_path).open("docs")
    assert "calibration fit" in caplog.text
    queries = cone(4, seed=8)
    space = numpy_space(corpus, CENTER)
    assert_same_hits(reopened.search(queries, K), expected(corpus, queries, space))


def test_a_crash_after_the_fit_commit_rebuilds_under_the_new_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fit is committed, the process dies before the index is rebuilt in its space: the
    next open finds a snapshot of the old (raw) space and rebuilds."""
    collection, corpus = filled(tmp_path, WHITEN, 400)
    collection.checkpoint()
    with monkeypatch.context() as patch:

        def crash(self: FaissCollection, space: object) -> None:
            raise RuntimeError("the process dies here")

        patch.setattr(FaissCollection, "_adopt", crash)
        with pytest.raises(RuntimeError):
            collection.calibrate()
    assert read_snapshot(tmp_path / "docs" / SNAPSHOT_FILE).fit == ""
    reopened = FaissCatalog(tmp_path).open("docs")  # the first one never closes (crashed)
    assert reopened.calibration_state().fitted_on == 400
    queries = cone(5, seed=9)
    space = numpy_space(corpus, WHITEN)
    assert_same_hits(reopened.search(queries, K), expected(corpus, queries, space), atol=1e-4)
    assert read_snapshot(tmp_path / "docs" / SNAPSHOT_FILE).fit == reopened._space.fit_id


def test_a_failed_fit_commit_keeps_the_old_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection, corpus = filled(tmp_path, CENTER, 300)
    with monkeypatch.context() as patch:

        def refuse(self: Store, fit: str) -> None:
            raise UnavailableError("disk full; nothing was changed")

        patch.setattr(Store, "save_fit", refuse)
        with pytest.raises(UnavailableError):
            collection.calibrate()
    assert not collection.calibration_state().fitted
    queries = cone(5, seed=10)
    assert_same_hits(collection.search(queries, K), corpus.expected(queries, K))
    collection.close()
    assert not FaissCatalog(tmp_path).open("docs").calibration_state().fitted


def test_a_crash_between_the_threshold_write_and_the_fit_fits_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:  # the process dies after the write's commit
        patch.setattr(FaissCollection, "_due_for_fit", lambda self: False)
        collection, corpus = filled(tmp_path, CENTER, 1000)
        assert not collection.calibration_state().fitted
    reopened = FaissCatalog(tmp_path).open("docs")
    assert reopened.calibration_state().fitted_on == 1000
    queries = cone(5, seed=11)
    assert_same_hits(
        reopened.search(queries, K), expected(corpus, queries, numpy_space(corpus, CENTER))
    )


def test_a_damaged_fit_makes_the_collection_unavailable(tmp_path: Path) -> None:
    collection, _ = filled(tmp_path, CENTER, 1000)
    collection.close()
    db = sqlite3.connect(tmp_path / "docs" / "store.sqlite3")
    db.execute(
        "UPDATE meta SET value = replace(value, '\"fitted_on\"', '\"fitted_om\"') "
        "WHERE key = 'calibration_fit'"
    )
    db.commit()
    db.close()
    with pytest.raises(UnavailableError, match="calibration fit"):
        FaissCatalog(tmp_path).open("docs")
