"""Index kinds: what a collection's ``CollectionSpec.index`` string means to FAISS.

A kind is ``"flat"`` (exact inner product: ``IndexIDMap2(IndexFlatIP(d))``) or
``"<factory>"`` / ``"<factory> | <parameters>"``:

- ``<factory>`` is a FAISS ``index_factory`` string, built with ``METRIC_INNER_PRODUCT``
  (``"HNSW32"``, ``"IVF1024,PQ48"``, ``"OPQ48,IVF1024,PQ48"``, ``"IVF256,SQ8"``).
- ``<parameters>`` is an optional FAISS ``ParameterSpace`` string applied after every build or
  load (``"nprobe=16"``, ``"efSearch=128"``, ``"quantizer_efSearch=64"`` for an IVF whose coarse
  quantizer is HNSW); without it FAISS's defaults hold (IVF probes one list, HNSW uses
  efSearch 16), which is fast but approximate. ``nprobe`` must be in ``1..nlist`` and
  ``efSearch`` positive. One more parameter is simsearch's own: ``k_factor=N`` (lossy kinds
  only, default ``DEFAULT_K_FACTOR``): a search asks FAISS for ``N * k`` candidates and keeps
  the k best after rescoring them exactly with the stored embeddings, which buys back the
  recall that PQ/SQ codes lose in ranking.

Per request, :class:`~simsearch.types.SearchParams` override ``efSearch`` (HNSW, or the HNSW
coarse quantizer of an IVF) and ``nprobe`` (IVF) through FAISS ``SearchParameters`` objects
made for each call, so concurrent searches never change the shared index. A parameter that
does not apply to the kind is ignored; a value that can never be valid (``<= 0``, ``nprobe``
above ``nlist``) is an InvalidArgumentError. ``efSearch`` below k acts as k (FAISS explores at
least k candidates) and above the number of vectors as that number (nothing more to explore).

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

import dataclasses
from dataclasses import dataclass
from typing import Any

import faiss

from simsearch.errors import InvalidArgumentError
from simsearch.types import SearchParams

__all__ = ["DEFAULT_K_FACTOR", "FLAT", "IndexKind", "exact_index", "search_parameters"]

FLAT = "flat"
MIN_TRAIN = 256  # never train on fewer vectors than this
POINTS_PER_CENTROID = 39  # FAISS's own k-means minimum per centroid
DEFAULT_K_FACTOR = 4  # candidates per hit lossy kinds rescore; bench/search.py shows 10
MAX_K_FACTOR = 100
_K_FACTOR = "k_factor"

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
    nlist: the number of IVF lists, 0 when the kind is not IVF (``nprobe`` does not apply).
    graph: whether ``efSearch`` applies (HNSW, or IVF with an HNSW coarse quantizer).
    k_factor: candidates per hit a lossy kind rescores; 1 for kinds with exact scores.
    """

    text: str
    dimension: int
    factory: str | None
    parameters: str
    removable: bool = True
    train_size: int = 0
    exact_scores: bool = True
    nlist: int = 0
    graph: bool = False
    k_factor: int = 1

    @classmethod
    def parse(cls, text: str, dimension: int) -> IndexKind:
        """Check ``text`` against FAISS for ``dimension``; InvalidArgumentError says why not."""
        if dimension <= 0:
            raise InvalidArgumentError(f"dimension must be positive, got {dimension}")
        factory, _, parameters = (part.strip() for part in text.partition("|"))
        parameters, k_factor = _split_k_factor(text, parameters)
        if factory == FLAT:
            return cls(text, dimension, None, parameters)._with_k_factor(k_factor)._checked()
        index = _factory(factory, dimension)
        _check_supported(text, index)
        core = _core(index)
        return (
            cls(
                text,
                dimension,
                factory,
                parameters,
                removable=not isinstance(core, faiss.IndexHNSW),
                train_size=0 if index.is_trained else _train_size(core),
                exact_scores=_exact_scores(index),
                nlist=int(core.nlist) if isinstance(core, faiss.IndexIVF) else 0,
                graph=_graph(core) is not None,
            )
            ._with_k_factor(k_factor)
            ._checked()
        )

    @property
    def exact(self) -> bool:
        return self.factory is None

    def check(self, params: SearchParams | None) -> None:
        """InvalidArgumentError for request parameters that are never valid for this kind;
        parameters that do not apply to it are ignored."""
        if params is None:
            return
        for name in ("ef_search", "nprobe"):
            value = getattr(params, name)
            if value is not None and (not _is_int(value) or value <= 0):
                raise InvalidArgumentError(
                    f"params.{name} must be a positive integer, got {value!r}"
                )
        if self.nlist and params.nprobe is not None and params.nprobe > self.nlist:
            raise InvalidArgumentError(
                f"params.nprobe is {params.nprobe} but index {self.text!r} has {self.nlist} "
                f"lists; nprobe={self.nlist} searches them all"
            )

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

    def _with_k_factor(self, k_factor: int | None) -> IndexKind:
        if k_factor is None:
            k_factor = 1 if self.exact_scores else DEFAULT_K_FACTOR
        elif self.exact_scores:
            raise InvalidArgumentError(
                f"index {self.text!r}: k_factor applies only to kinds that store vectors lossily "
                "(PQ, SQ, PCA/OPQ); this kind's scores are exact already"
            )
        return dataclasses.replace(self, k_factor=k_factor)

    def _checked(self) -> IndexKind:
        try:
            index = self.build()
        except RuntimeError as exc:
            raise InvalidArgumentError(
                f"index {self.text!r}: bad parameters {self.parameters!r}: {_reason(exc)}"
            ) from None
        _check_settings(self.text, _core(index))
        return self


def exact_index(dimension: int) -> Any:
    """``IndexIDMap2(IndexFlatIP(d))``: exact inner product over labelled vectors."""
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def search_parameters(index: Any, selector: Any, request: SearchParams | None = None) -> Any:
    """Search parameters of the type ``index`` expects, for one call: the index's own
    nprobe / efSearch (passing parameters overrides them), replaced by those of ``request``
    (checked by :meth:`IndexKind.check`), and ``selector`` (None for all ids).

    The caller keeps ``selector`` alive during the search (SWIG does not); a quantizer's
    parameters are kept alive by the returned object.
    """
    core = _core(index)
    request = request or SearchParams()
    params: Any
    if isinstance(core, faiss.IndexIVF):
        params = faiss.SearchParametersIVF()
        params.nprobe = core.nprobe if request.nprobe is None else request.nprobe
        params.max_codes = core.max_codes
        quantizer = faiss.downcast_index(core.quantizer)
        if request.ef_search is not None and isinstance(quantizer, faiss.IndexHNSW):
            quantizer_params = _hnsw_parameters(quantizer, request.ef_search)
            params.quantizer_params = quantizer_params
            params.referenced = quantizer_params  # SWIG does not keep it alive
    elif isinstance(core, faiss.IndexHNSW):
        ef_search = core.hnsw.efSearch if request.ef_search is None else request.ef_search
        params = _hnsw_parameters(core, ef_search)
    else:
        params = faiss.SearchParameters()
    params.sel = selector
    return params


def _hnsw_parameters(index: Any, ef_search: int) -> Any:
    """efSearch above the number of vectors explores nothing more: capped there, so a huge
    request cannot make FAISS allocate a huge candidate heap."""
    params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # missing in stub
    params.efSearch = min(ef_search, max(int(index.ntotal), 1))
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


def _split_k_factor(text: str, parameters: str) -> tuple[str, int | None]:
    """The ParameterSpace string without simsearch's ``k_factor=N``, and N (None if absent)."""
    kept, k_factor = [], None
    for item in filter(None, (part.strip() for part in parameters.split(","))):
        name, _, value = (part.strip() for part in item.partition("="))
        if name != _K_FACTOR:
            kept.append(item)
        elif value.isdigit() and 1 <= int(value) <= MAX_K_FACTOR:
            k_factor = int(value)
        else:
            raise InvalidArgumentError(
                f"index {text!r}: k_factor must be an integer in 1..{MAX_K_FACTOR}, got {value!r}"
            )
    return ",".join(kept), k_factor


def _check_settings(text: str, core: Any) -> None:
    """FAISS's ParameterSpace accepts values its search then rejects or silently clamps."""
    if isinstance(core, faiss.IndexIVF) and not 1 <= core.nprobe <= core.nlist:
        raise InvalidArgumentError(
            f"index {text!r}: nprobe must be in 1..{core.nlist} (the number of lists), "
            f"got {core.nprobe}"
        )
    graph = _graph(core)
    if graph is not None and graph.efSearch <= 0:
        raise InvalidArgumentError(f"index {text!r}: efSearch must be positive")


def _graph(core: Any) -> Any:
    """The HNSW graph whose efSearch applies: the index's own or its IVF coarse quantizer's."""
    if isinstance(core, faiss.IndexIVF):
        core = faiss.downcast_index(core.quantizer)
    return core.hnsw if isinstance(core, faiss.IndexHNSW) else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
