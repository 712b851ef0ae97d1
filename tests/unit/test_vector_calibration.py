"""The calibration math (``index.vector_calibration``) against plain numpy."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from simsearch.index.vector_calibration import (
    CENTER_THRESHOLD,
    CalibrationFit,
    VectorSpace,
    fit_calibration,
    fit_threshold,
    output_dimension,
)
from simsearch.types import Calibration, CalibrationKind, FloatArray

D = 24
CENTER = Calibration(CalibrationKind.CENTER)
WHITEN = Calibration(CalibrationKind.WHITEN)


def cone(n: int, seed: int, d: int = D) -> FloatArray:
    """Unit vectors crowded into a cone (a shared offset), with correlated coordinates, as
    raw pooler vectors are."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(1234).standard_normal((d, d))
    vectors = rng.standard_normal((n, d)) @ mixing + 4.0 * np.linspace(1, 2, d)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


def in_batches(vectors: FloatArray, size: int = 37) -> Callable[[], Iterator[FloatArray]]:
    """The vectors in batches of ``size``, as the store reads them, each call anew."""
    return lambda: (vectors[i : i + size] for i in range(0, len(vectors), size))


def normalised(rows: FloatArray) -> FloatArray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_center_removes_the_mean_and_normalises() -> None:
    data, queries = cone(500, seed=1), cone(7, seed=2)
    fit = fit_calibration(CENTER, in_batches(data))
    mean = data.astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(fit.mean, mean, rtol=0, atol=1e-12)
    assert fit.matrix is None and fit.fitted_on == 500
    expected = normalised(queries.astype(np.float64) - mean)
    np.testing.assert_allclose(fit.apply(queries), expected, atol=1e-6)
    assert fit.apply(queries).dtype == np.float32


@pytest.mark.parametrize("dimensions", [0, 10])
def test_whiten_matches_numpy_svd_of_the_covariance(dimensions: int) -> None:
    data, queries = cone(800, seed=3), cone(9, seed=4)
    fit = fit_calibration(Calibration(CalibrationKind.WHITEN, dimensions), in_batches(data))
    x = data.astype(np.float64)
    mean = x.mean(axis=0)
    covariance = np.cov(x.T, bias=True)
    u, s, _ = np.linalg.svd(covariance)
    w = u @ np.diag(1 / np.sqrt(s))
    if dimensions:
        w = w[:, :dimensions]
    expected = normalised((queries - mean) @ w)
    got = fit.apply(queries)
    assert got.shape == (9, dimensions or D) and fit.output_dimension == (dimensions or D)
    # Columns of U are defined up to sign; cosines between rows are not affected by it.
    np.testing.assert_allclose(got @ got.T, expected @ expected.T, atol=1e-5)
    np.testing.assert_allclose(np.abs(got), np.abs(expected), atol=1e-5)


def test_whitened_fitted_vectors_have_identity_covariance() -> None:
    data = cone(2000, seed=5)
    fit = fit_calibration(WHITEN, in_batches(data))
    assert fit.matrix is not None
    transformed = (data.astype(np.float64) - fit.mean) @ fit.matrix
    np.testing.assert_allclose(np.cov(transformed.T, bias=True), np.eye(D), atol=1e-8)


def test_whitening_fewer_vectors_than_dimensions_stays_finite() -> None:
    """A singular covariance: tiny singular values are floored, nothing is inf or NaN."""
    data = cone(5, seed=6)
    fit = fit_calibration(WHITEN, in_batches(data))
    out = fit.apply(cone(20, seed=7))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)


def test_a_vector_equal_to_the_mean_stays_zero() -> None:
    data = np.repeat(cone(1, seed=8), 2, axis=0)  # two equal vectors: the mean is each
    fit = fit_calibration(CENTER, in_batches(data))
    np.testing.assert_array_equal(fit.apply(data), np.zeros_like(data))


def test_fit_refuses_too_few_vectors_and_none() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        fit_calibration(CENTER, in_batches(cone(1, seed=9)))
    with pytest.raises(ValueError, match="nothing to fit"):
        fit_calibration(Calibration(), in_batches(cone(10, seed=9)))


@pytest.mark.parametrize("calibration", [CENTER, WHITEN, Calibration(CalibrationKind.WHITEN, 5)])
def test_json_round_trip_keeps_every_number(calibration: Calibration) -> None:
    fit = fit_calibration(calibration, in_batches(cone(100, seed=10)), now=1234.5)
    again = CalibrationFit.from_json(fit.to_json())
    assert again.checksum == fit.checksum
    assert (again.calibration, again.fitted_at, again.fitted_on) == (calibration, 1234.5, 100)
    queries = cone(4, seed=11)
    np.testing.assert_array_equal(again.apply(queries), fit.apply(queries))


def test_a_damaged_fit_is_refused() -> None:
    fit = fit_calibration(WHITEN, in_batches(cone(100, seed=12)))
    value = json.loads(fit.to_json())
    value["fitted_on"] = 7  # not covered by the checksum: fine
    CalibrationFit.from_json(json.dumps(value))
    mean = bytearray(base64.b64decode(value["mean"]))
    mean[3] ^= 1
    value["mean"] = base64.b64encode(bytes(mean)).decode()
    with pytest.raises(ValueError, match="checksum"):
        CalibrationFit.from_json(json.dumps(value))
    with pytest.raises(ValueError, match="unreadable"):
        CalibrationFit.from_json("{not json")


def test_the_checksum_identifies_the_fit() -> None:
    a = fit_calibration(CENTER, in_batches(cone(100, seed=13)))
    b = fit_calibration(CENTER, in_batches(cone(100, seed=14)))
    assert a.checksum != b.checksum
    assert VectorSpace(a).fit_id == a.checksum and VectorSpace().fit_id == ""


def test_raw_space_is_the_identity() -> None:
    vectors = cone(3, seed=15)
    assert VectorSpace().apply(vectors) is vectors
    assert VectorSpace().dimension(D) == D


def test_thresholds_and_dimensions() -> None:
    assert fit_threshold(Calibration(), 384) == 0
    assert fit_threshold(CENTER, 384) == CENTER_THRESHOLD
    assert fit_threshold(WHITEN, 384) == 1000
    assert fit_threshold(WHITEN, 768) == 1536
    assert output_dimension(Calibration(CalibrationKind.WHITEN, 128), 384) == 128
    assert output_dimension(WHITEN, 384) == 384
    assert output_dimension(CENTER, 384) == 384
