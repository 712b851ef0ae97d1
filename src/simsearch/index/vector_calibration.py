"""The math of a collection's vector calibration: fit it on stored vectors, apply it, store it.

- CENTER: ``apply(x) = normalise(x - mu)``, mu the mean of the fitted vectors.
- WHITEN (Su et al. 2021, "Whitening Sentence Representations"): ``apply(x) = normalise((x -
  mu) @ W)`` with ``W = U diag(1 / sqrt(s))`` from the SVD ``cov = U diag(s) U^T`` of the
  covariance; keeping the leading ``dimensions`` columns of W (the directions of largest
  variance) makes the output that many dimensions.

The fit reads the vectors in batches, twice (the mean, then the covariance of the centred
vectors), in float64, so its memory is ``d x d`` floats whatever the number of vectors, and
every stored vector counts: no sample, no cap. Its time is ``O(n d^2)`` for the covariance plus
``O(d^3)`` for the SVD (384 dimensions, 100k vectors: about a second), about what rebuilding the
index from the store costs anyway.

Singular values below ``EPSILON`` times the largest are raised to it: with fewer vectors than
dimensions (or duplicates) the covariance is singular, and ``1 / sqrt(0)`` would blow up
directions no fitted vector varies in. Such a fit still whitens noise: the auto-fit threshold
(``fit_threshold``) waits for ``2 d`` vectors for WHITEN.

A fit serialises to JSON text (arrays as base64 little-endian float64) with a SHA-256
``checksum`` of its numbers, which is also its identity: an index snapshot records the checksum
of the fit it was built under.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.types import Calibration, CalibrationKind, FloatArray

__all__ = [
    "CENTER_THRESHOLD",
    "EPSILON",
    "MIN_FIT",
    "CalibrationFit",
    "VectorSpace",
    "fit_calibration",
    "fit_threshold",
    "output_dimension",
]

# Documents at which a collection with no fit fits itself (the write reaching it does). The
# mean of 1000 unit vectors is within about 0.03 / sqrt(d) per coordinate of the corpus mean;
# a covariance needs more vectors than dimensions to be of full rank, and twice as many for
# its small eigenvalues (which whitening divides by) to be estimated at all.
CENTER_THRESHOLD = 1000
MIN_FIT = 2  # an explicit refit needs at least this many documents
EPSILON = 1e-6  # singular values are at least EPSILON * the largest
_FORMAT = 1
_FLOAT = np.dtype("<f8")

Float64Array = npt.NDArray[np.float64]
Batches = Callable[[], Iterable[FloatArray]]


def fit_threshold(calibration: Calibration, dimension: int) -> int:
    """Documents at which a collection with this calibration fits itself; 0 for NONE."""
    if calibration.kind == CalibrationKind.CENTER:
        return CENTER_THRESHOLD
    if calibration.kind == CalibrationKind.WHITEN:
        return max(CENTER_THRESHOLD, 2 * dimension)
    return 0


def output_dimension(calibration: Calibration, dimension: int) -> int:
    """The dimension of calibrated vectors (the index's, once fitted)."""
    if calibration.kind == CalibrationKind.WHITEN and calibration.dimensions:
        return calibration.dimensions
    return dimension


@dataclass(frozen=True)
class CalibrationFit:
    """A fitted calibration. mean: ``(d,)``; matrix: ``(d, k)`` for WHITEN, None for CENTER."""

    calibration: Calibration
    mean: Float64Array
    matrix: Float64Array | None
    fitted_at: float
    fitted_on: int

    @property
    def input_dimension(self) -> int:
        return len(self.mean)

    @property
    def output_dimension(self) -> int:
        return self.input_dimension if self.matrix is None else int(self.matrix.shape[1])

    @property
    def checksum(self) -> str:
        """SHA-256 (hex) of the kind and the numbers: the fit's identity."""
        digest = hashlib.sha256(self.calibration.kind.value.encode())
        digest.update(np.ascontiguousarray(self.mean, dtype=_FLOAT).tobytes())
        if self.matrix is not None:
            digest.update(np.ascontiguousarray(self.matrix, dtype=_FLOAT).tobytes())
        return digest.hexdigest()

    def apply(self, vectors: FloatArray) -> FloatArray:
        """``(n, d)`` vectors calibrated and L2-normalised: ``(n, k) float32`` (computed in
        float64; a vector equal to the mean stays zero)."""
        shifted = np.asarray(vectors, dtype=np.float64) - self.mean
        out = shifted if self.matrix is None else shifted @ self.matrix
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.where(norms > 0, norms, 1.0)
        return np.ascontiguousarray(out, dtype=np.float32)

    def to_json(self) -> str:
        """The fit as JSON text (see :meth:`from_json`)."""
        value: dict[str, Any] = {
            "format": _FORMAT,
            "kind": self.calibration.kind.value,
            "dimensions": self.calibration.dimensions,
            "fitted_at": self.fitted_at,
            "fitted_on": self.fitted_on,
            "mean": _encode(self.mean),
            "matrix": None if self.matrix is None else _encode(self.matrix),
            "shape": None if self.matrix is None else list(self.matrix.shape),
            "checksum": self.checksum,
        }
        return json.dumps(value)

    @classmethod
    def from_json(cls, text: str) -> CalibrationFit:
        """The fit :meth:`to_json` wrote; ValueError if it is damaged (checksum, shapes)."""
        try:
            value = json.loads(text)
            if value.get("format") != _FORMAT:
                raise ValueError(f"unknown fit format {value.get('format')!r}")
            mean = _decode(value["mean"])
            matrix = None
            if value["matrix"] is not None:
                rows, columns = (int(n) for n in value["shape"])
                matrix = _decode(value["matrix"]).reshape(rows, columns)
                if rows != len(mean):
                    raise ValueError(f"matrix has {rows} rows for a mean of {len(mean)}")
            fit = cls(
                Calibration(CalibrationKind(value["kind"]), int(value["dimensions"])),
                mean,
                matrix,
                float(value["fitted_at"]),
                int(value["fitted_on"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"unreadable calibration fit: {exc}") from None
        if fit.checksum != value["checksum"]:
            raise ValueError("calibration fit does not match its checksum (damaged)")
        return fit


class VectorSpace:
    """The space a collection's index holds its vectors in: raw (no fit) or calibrated by
    ``fit``. ``fit_id``: the fit's checksum, ``""`` for raw."""

    def __init__(self, fit: CalibrationFit | None = None) -> None:
        self.fit = fit
        self.fit_id = "" if fit is None else fit.checksum

    def dimension(self, raw: int) -> int:
        """The dimension of vectors in this space, for raw vectors of ``raw`` dimensions."""
        return raw if self.fit is None else self.fit.output_dimension

    def apply(self, vectors: FloatArray) -> FloatArray:
        """Normalised raw vectors ``(n, d) float32`` in this space (the same array if raw)."""
        return vectors if self.fit is None else self.fit.apply(vectors)


def fit_calibration(
    calibration: Calibration, batches: Batches, *, now: float | None = None
) -> CalibrationFit:
    """Fit ``calibration`` (CENTER or WHITEN) on the vectors ``batches()`` yields (called
    twice: the mean, then the covariance). ValueError for fewer than ``MIN_FIT`` vectors or
    for NONE."""
    if calibration.kind == CalibrationKind.NONE:
        raise ValueError("calibration none has nothing to fit")
    count, total = 0, None
    for batch in batches():
        rows = np.asarray(batch, dtype=np.float64)
        total = rows.sum(axis=0) if total is None else total + rows.sum(axis=0)
        count += len(rows)
    if total is None or count < MIN_FIT:
        raise ValueError(f"a fit needs at least {MIN_FIT} vectors, got {count}")
    mean = total / count
    matrix = None
    if calibration.kind == CalibrationKind.WHITEN:
        matrix = _whitening(_covariance(batches, mean, count), calibration.dimensions)
    fitted_at = time.time() if now is None else now
    return CalibrationFit(calibration, mean, matrix, fitted_at, count)


def _covariance(batches: Batches, mean: Float64Array, count: int) -> Float64Array:
    scatter = np.zeros((len(mean), len(mean)), dtype=np.float64)
    for batch in batches():
        centred = np.asarray(batch, dtype=np.float64) - mean
        scatter += centred.T @ centred
    covariance: Float64Array = scatter / count
    return covariance


def _whitening(covariance: Float64Array, dimensions: int) -> Float64Array:
    """``U diag(1 / sqrt(s))``, the leading ``dimensions`` columns (all when 0)."""
    u, s, _ = np.linalg.svd(covariance)
    floor = max(float(s[0]) * EPSILON, np.finfo(np.float64).tiny)
    matrix: Float64Array = u / np.sqrt(np.maximum(s, floor))
    return matrix[:, :dimensions] if dimensions else matrix


def _encode(array: Float64Array) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=_FLOAT).tobytes()).decode("ascii")


def _decode(text: str) -> Float64Array:
    return np.frombuffer(base64.b64decode(text, validate=True), dtype=_FLOAT).astype(np.float64)
