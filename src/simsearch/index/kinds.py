"""Index kinds: what a collection's ``CollectionSpec.index`` string means to FAISS.

A kind is ``"flat"`` (exact inner product: ``IndexIDMap2(IndexFlatIP(d))``) or
``"<factory>"`` / ``"<factory> | <parameters>"``:

- ``<factory>`` is a FAISS ``index_factory`` string, built with ``METRIC_INNER_PRODUCT``
  (``"HNSW32"``, ``"IVF1024,PQ48"``, ``"OPQ48,IVF1024,PQ48"``, ``"IVF256,SQ8"``).
- ``<parameters>`` is an optional FAISS ``ParameterSpace`` string applied after every build or
  load (``"nprobe=16"``, ``"efSearch=128"``); without it FAISS's defaults hold (IVF probes one
  list, HNSW uses efSearch 16), which is fast but approximate.

Supported families are those whose search accepts an id selector (needed for tombstones and
filters) and that add incrementally: Flat, IVF* (any quantizer and encoding, fast-scan
included), HNSW* and SQ, optionally behind a pre-transform (PCA, OPQ, ...); the metric must be
inner product. Refused: PQ without IVF, Refine, NSG, and L2-only builds such as ``HNSW32,PQ8``.
Everything is checked by :meth:`IndexKind.parse`, so a bad kind fails at create time with
FAISS's reason and nothing on disk.

IVF-PQ indexes skip FAISS's polysemous training: it only serves polysemous Hamming filtering,
which simsearch never turns on, and costs about a second per sub-quantizer even on tiny data.

Labels (FAISS ids) are the store's int64 labels. Indexes that cannot take ids themselves are
wrapped in ``IndexIDMap2``; a user ``IDMap`` prefix is refused because ``IDMap`` over IVF
corrupts its id map on removal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faiss

from simsearch.errors import InvalidArgumentError

__all__ = ["FLAT", "IndexKind", "exact_index", "search_parameters"]

FLAT = "flat"
MIN_TRAIN = 256  # never train on fewer vectors than this
POINTS_PER_CENTROID = 39  # FAISS's own k-means minimum per centroid

_SUPPORTED = "Flat, IVF*, HNSW* and SQ (optionally after PCA/OPQ)"


@dataclass(frozen=True)
class IndexKind:
    """A parsed and validated index kind; build one with :meth:`parse`.

    factory: the FAISS factory string, None for ``"flat"``.
    parameters: the ParameterSpace string ("" when none).
    removable: whether the index can remove ids; False (HNSW) means deleted labels become
        tombstones that searches exclude, compacted by a rebuild.
    train_size: vectors needed before training; 0 when the index needs no training.
    exact_scores: whether FAISS's scores are the true inner products (the vectors are stored
        as they are: Flat, IVF-Flat, HNSW-Flat); lossy kinds (PQ, SQ, PCA/OPQ) are rescored.
    """

    text: str
    dimension: int
    factory: str | None
    parameters: str
    removable: bool
    train_size: int
    exact_scores: bool

    @classmethod
    def parse(cls, text: str, dimension: int) -> IndexKind:
        """Check ``text`` against FAISS for ``dimension``; InvalidArgumentError says why not."""
        if dimension <= 0:
            raise InvalidArgumentError(f"dimension must be positive, got {dimension}")
        factory, _, parameters = (part.strip() for part in text.partition("|"))
        if factory == FLAT:
            return cls(text, dimension, None, parameters, True, 0, True)._checked()
        index = _factory(factory, dimension)
        _check_supported(text, index)
        core = _core(index)
        train_size = 0 if index.is_trained else _train_size(core)
        removable = not isinstance(core, faiss.IndexHNSW)
        exact_scores = _exact_scores(index)
        return cls(
            text, dimension, factory, parameters, removable, train_size, exact_scores
        )._checked()

    @property
    def exact(self) -> bool:
        return self.factory is None

    def build(self) -> Any:
        """A new empty index that takes labels (``add_with_ids``), parameters applied."""
        if self.factory is None:
            index = exact_index(self.dimension)
        else:
            index = _factory(self.factory, self.dimension)
            core = _core(index)
            if isinstance(core, faiss.IndexIVFPQ):
                core.do_polysemous_training = False  # type: ignore[attr-defined]  # see docstring
            if not isinstance(core, faiss.IndexIVF):
                index = faiss.IndexIDMap2(index)
        self.apply_parameters(index)
        return index

    def apply_parameters(self, index: Any) -> None:
        if self.parameters:
            space = faiss.ParameterSpace()
            space.set_index_parameters(index, self.parameters)  # type: ignore[arg-type]  # stub

    def _checked(self) -> IndexKind:
        try:
            self.build()
        except RuntimeError as exc:
            raise InvalidArgumentError(
                f"index {self.text!r}: bad parameters {self.parameters!r}: {_reason(exc)}"
            ) from None
        return self


def exact_index(dimension: int) -> Any:
    """``IndexIDMap2(IndexFlatIP(d))``: exact inner product over labelled vectors."""
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def search_parameters(index: Any, selector: Any) -> Any:
    """Search parameters of the type ``index`` expects, with its own defaults and ``selector``.

    Passing parameters overrides the index's settings, so nprobe / efSearch are copied from it.
    The caller keeps ``selector`` alive during the search (SWIG does not).
    """
    core = _core(index)
    params: Any
    if isinstance(core, faiss.IndexIVF):
        params = faiss.SearchParametersIVF()
        params.nprobe = core.nprobe
        params.max_codes = core.max_codes
    elif isinstance(core, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # missing in stub
        params.efSearch = core.hnsw.efSearch
    else:
        params = faiss.SearchParameters()
    params.sel = selector
    return params


def _factory(factory: str, dimension: int) -> Any:
    try:
        return faiss.index_factory(dimension, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise InvalidArgumentError(
            f"index {factory!r} is not a FAISS factory string for dimension {dimension}: "
            f"{_reason(exc)}; use 'flat' or e.g. 'HNSW32', 'IVF1024,PQ48'"
        ) from None


def _check_supported(text: str, index: Any) -> None:
    index = faiss.downcast_index(index)
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise InvalidArgumentError(
            f"index {text!r} does not support inner product (FAISS built an L2 index); "
            "simsearch scores by cosine similarity"
        )
    if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        raise InvalidArgumentError(f"index {text!r}: drop the IDMap prefix, ids are mapped here")
    supported = (faiss.IndexFlat, faiss.IndexIVF, faiss.IndexHNSW, faiss.IndexScalarQuantizer)
    core = _core(index)
    if not isinstance(core, supported):
        raise InvalidArgumentError(
            f"index {text!r} ({type(core).__name__}) is not supported: it cannot filter ids "
            f"at search time or add incrementally; supported families: {_SUPPORTED}"
        )


def _core(index: Any) -> Any:
    """The index under any id map and pre-transform wrappers."""
    index = faiss.downcast_index(index)
    while isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2, faiss.IndexPreTransform)):
        index = faiss.downcast_index(index.index)
    return index


def _exact_scores(index: Any) -> bool:
    """Whether ``index`` keeps the original vectors (so its scores are exact)."""
    if isinstance(faiss.downcast_index(index), faiss.IndexPreTransform):
        return False
    core = _core(index)
    if isinstance(core, faiss.IndexHNSW):
        return isinstance(faiss.downcast_index(core.storage), faiss.IndexFlat)
    return isinstance(core, (faiss.IndexFlat, faiss.IndexIVFFlat))


def _train_size(core: Any) -> int:
    """max(256, 39 * nlist): FAISS's k-means needs 39 points per centroid to train well."""
    nlist = core.nlist if isinstance(core, faiss.IndexIVF) else 0
    return max(MIN_TRAIN, POINTS_PER_CENTROID * int(nlist))


def _reason(exc: RuntimeError) -> str:
    """FAISS's message without its C++ location prefix."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    last = lines[-1] if lines else str(exc)
    return last.split(": ", 1)[-1] if last.startswith("Error in") else last
