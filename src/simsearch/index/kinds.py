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

Parameters after ``|`` (comma-separated ``name=value``; FAISS refuses one that does not apply to
the kind, e.g. ``efConstruction`` on IVF, with an InvalidArgumentError):

=====================  =================  ===========  =======  ===================================
parameter              kinds              values       FAISS's  what it buys, what it costs
                                                       default
=====================  =================  ===========  =======  ===================================
``efSearch``           HNSW, IVF with an  1 or more    16       recall at search time; raised to
                       HNSW quantizer                           k per search, overridable per
                                                                request (``SearchParams``)
``efConstruction``     HNSW               1..2048      40       graph quality, so recall at any
                                                                efSearch; build and upsert time
                                                                grow about linearly with it
``nprobe``             IVF                1..nlist     1        recall; search time grows with it
``quantizer_efSearch`` IVF with an HNSW   1 or more    16       the coarse quantizer's recall
                       quantizer
``k_factor``           PQ, SQ, PCA/OPQ    1..100       4 (ours) exact rescoring's candidates
=====================  =================  ===========  =======  ===================================

``efConstruction`` is how many candidates each insert explores to pick its M links: a graph
built with too few has neighbourhoods that no efSearch recovers. Measured with ``bench/search.py``
data (seeded Gaussian mixture, d=384, recall@10 at efSearch 64 / 128 / 256, 2 shared cores):
HNSW32 at efConstruction 40 (FAISS's default) 0.988 / 0.992 / 0.995 at 100k vectors and
0.966 / 0.985 / 0.989 at 200k; at efConstruction 64, 0.993 / 1.000 / 1.000 at 200k, for a
build about twice as long, and 0.944 / 0.990 / 0.992 at 1M (built in 394 s). It is an
integer from 1 to ``MAX_EF_CONSTRUCTION``: FAISS itself takes 0 and negative values (a graph
with no useful links), truncates ``1.5`` to 1, and accepts 100,000,000 (every insert would
then explore the whole graph). It is applied to the
empty index before any vector is added, and again whenever the collection is rebuilt,
trained or loaded, so documents added after a restart are linked with the same effort.

Per request, :class:`~simsearch.types.SearchParams` override ``efSearch`` (HNSW, or the HNSW
coarse quantizer of an IVF) and ``nprobe`` (IVF) through FAISS ``SearchParameters`` objects
made for each call, so concurrent searches never change the shared index. A parameter that
does not apply to the kind is ignored; a value that can never be valid (``<= 0``, ``nprobe``
above ``nlist``) is an InvalidArgumentError. ``efSearch`` below k acts as k (simsearch passes
``max(efSearch, k)``: FAISS itself would keep only efSearch candidates, so k=600 on 600 HNSW32
vectors gave about 230-420 hits at the default 16), below nprobe for an HNSW coarse quantizer as
nprobe, and above the number of vectors as that number (nothing more to explore).

Supported families are those whose search accepts an id selector (needed for tombstones and
filters) and that add incrementally: Flat, IVF* (a flat or HNSW coarse quantizer; Flat, PQ,
fast-scan PQ, SQ or RaBitQ codes), HNSW* and SQ, optionally behind a pre-transform (PCA, OPQ,
...) that outputs no more dimensions than it takes; the metric must be inner product. Refused:
PQ without IVF, Refine, NSG, additive quantizers (RQ, LSQ), and L2-only builds such as
``HNSW32,PQ8``. Everything is checked by :meth:`IndexKind.parse`, so a bad kind fails at create
time with FAISS's reason and nothing on disk; the check runs again whenever a stored collection
opens, before anything is built or replayed, so a kind an older version accepted makes its
collection unavailable instead of crashing the server.

Kinds FAISS builds but cannot run. ``index_factory`` accepts many kinds that then kill the
process, fail every search, allocate without bound, or never train; a crash cannot be caught,
and a stored collection replays its documents into it at every start. They were found by
building each candidate in a child process at d=384 and d=8 the way simsearch does (train on
random unit vectors when needed, add with labels, search plain, filtered and with request
parameters, remove, serialise and reload, add again; FAISS 1.15.1), and each is refused by a
rule:

=====================================  ==============================================  ==========
kind (d=384 unless said)               without the rules                               rule
=====================================  ==============================================  ==========
HNSW0, IVF16_HNSW0,Flat                SIGABRT at the first add (Faiss assertion       1
                                       'i < end' failed in HNSW.cpp)
HNSW1, HNSW1,Flat, HNSW1,SQ8           SIGSEGV at the first add                        2
IVF16_HNSW1,Flat                       SIGSEGV when the coarse quantizer trains        2
HNSW100000                             builds; 800 KB of links per vector              2
IVF16,PQ8x0                            SIGSEGV at the first search                     1
IVF16,PQ8x4fs_0 (block size 0)         SIGFPE at the first add                         1
IVF0,Flat; SQ0; PCA0,Flat; RR0,Flat    no lists / 0-bit codes / 0 dimensions           1
OPQ0,IVF16,PQ8                         never trains (M must be > 0)                    1
IVF10000000,Flat                       1.6 GB allocated by the factory, no vector yet  1
IVF16,PQ8x24                           std::bad_alloc building it (2**24 centroids)    3
IVF16,PQ8x17                           never trains (2**17 centroids)                  3
IVF16,RQ1x8                            every filtered or tombstoned search fails       4
                                       ('sel' failed: id selector not supported)
IVF16(PQ4),Flat                        never trains                                    5
PCA1000,Flat; PCA64,Flat at d=8        never trains                                    6
OPQ7,Flat; OPQ8_60,Flat; OPQ48 at d=8  never trains (d % M == 0 failed)                6
OPQ8_1000,IVF16,PQ8                    training did not end within 4 minutes           6
OPQ8,HNSW32; OPQ8,Flat; OPQ48,Flat     SIGSEGV training on 256-383 vectors, which      7
                                       happened once 256 documents were stored
HNSW32 | efSearch=2000000000           std::bad_alloc at the first search              8
=====================================  ==============================================  ==========

1. Every number in the factory string is in ``1..MAX_FACTORY_NUMBER`` (100,000, what a
   training samples: more lists or centroids could never train), checked before FAISS
   allocates anything.
2. An HNSW graph (the index's, or an IVF's coarse quantizer) has M in ``2..MAX_HNSW_M``.
3. PQ codes have at most ``MAX_PQ_BITS`` (16) bits.
4. No additive quantizer codes (RQ, LSQ, ...).
5. The coarse quantizer of an IVF is flat or HNSW.
6. No pre-transform outputs more dimensions than it takes; OPQ's M divides its output.
7. Training waits for as many vectors as each pre-transform outputs (``train_size``).
8. Searches cap efSearch at the number of vectors (``search_parameters``).

Next to them, these ran through every step at d=384, and at d=8 where they fit (d % M == 0,
no more output dimensions than 8): HNSW2, HNSW3, HNSW256, HNSW32,Flat, HNSW32 with SQ4, SQ8, SQfp16;
IVF1, IVF2, IVF16, IVF100 with Flat, ``nprobe``, ``max_codes``; IVF16 with PQ1, PQ8, PQ384,
PQ8x1, PQ8x4, PQ8np, PQ8x4fs, PQ8x4fsr, PQ48x4fs, PQ2x4fs, PQ8x4fs_32, SQ4, SQ6, SQ8, SQfp16,
SQbf16, SQ8_direct, SQ8_direct_signed, RaBitQ; IVF16_HNSW2,Flat, IVF16_HNSW32,Flat,
IVF1_HNSW32,Flat; SQ4, SQ8, SQfp16, SQ8_direct; PCA64 with Flat, HNSW32, IVF16,Flat and
IVF16,PQ8; PCA1, PCA383, PCA384, PCAW64, PCAR64; OPQ8,IVF16,PQ8, OPQ48,IVF16,PQ48,
OPQ16_64,IVF16,PQ16x4fsr, and OPQ8 with Flat, HNSW32, SQ8 (trained on 384 vectors); RR64,
RR384, ITQ, ITQ64, L2norm with Flat. No accepted kind crashed. PQ codes of 12-16 bits build
but train only once 2**bits vectors are stored (a failed training is postponed, see
``recovery.train``); OPQ at d=384 trains slowly (85 s for 384 vectors on 2 loaded cores).
FAISS itself refuses, with a message, ``IVF16,PQ7`` (7 does not divide 384), IMI (no inner
product), LSH, ``SQ7``, ``PQ8x8fs`` and ``PQ8x4fs_1`` (block size not a multiple of 32).

IVF-PQ indexes skip FAISS's polysemous training: it only serves polysemous Hamming filtering,
which simsearch never turns on, and costs about a second per sub-quantizer even on tiny data.

Labels (FAISS ids) are the store's int64 labels. Indexes that cannot take ids themselves are
wrapped in ``IndexIDMap2``; a user ``IDMap`` prefix is refused because ``IDMap`` over IVF
corrupts its id map on removal.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import faiss

from simsearch.errors import InvalidArgumentError, quoted
from simsearch.index.search_params import check_search_params
from simsearch.types import SearchParams

__all__ = [
    "DEFAULT_K_FACTOR",
    "FLAT",
    "TRAIN_SAMPLE",
    "IndexKind",
    "exact_index",
    "search_parameters",
]

FLAT = "flat"
MIN_TRAIN = 256  # never train on fewer vectors than this
POINTS_PER_CENTROID = 39  # FAISS's own k-means minimum per centroid
TRAIN_SAMPLE = 100_000  # most stored vectors a training samples (``recovery``)
MAX_FACTORY_NUMBER = TRAIN_SAMPLE  # lists, codebook sizes ... above it could never train
MAX_HNSW_M = 256  # links per vector: 8 * M bytes at level 0 alone
MAX_EF_CONSTRUCTION = 2048  # build effort: 50x FAISS's default; more takes hours per 1M vectors
MAX_PQ_BITS = 16  # 2**16 centroids per sub-quantizer still train on TRAIN_SAMPLE vectors
DEFAULT_K_FACTOR = 4  # candidates per hit lossy kinds rescore; bench/search.py shows 10
MAX_K_FACTOR = 100
# Longest index string: FAISS 1.15's factory parser dies (SIGSEGV) on strings from about 15,000
# bytes; every real kind fits in a few dozen characters.
MAX_INDEX_CHARS = 256
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
        if len(text) > MAX_INDEX_CHARS:
            raise InvalidArgumentError(
                f"index {quoted(text)} is longer than {MAX_INDEX_CHARS} characters; "
                "use 'flat' or e.g. 'HNSW32', 'IVF1024,PQ48'"
            )
        factory, _, parameters = (part.strip() for part in text.partition("|"))
        parameters, k_factor = _split_k_factor(text, parameters)
        _check_ef_construction(text, parameters)
        if factory == FLAT:
            return cls(text, dimension, None, parameters)._with_k_factor(k_factor)._checked()
        _check_numbers(text, factory)  # before FAISS allocates what they ask for
        index = _factory(factory, dimension)
        _check_supported(text, index)
        _check_runnable(text, index)
        core = _core(index)
        return (
            cls(
                text,
                dimension,
                factory,
                parameters,
                removable=not isinstance(core, faiss.IndexHNSW),
                train_size=0 if index.is_trained else _train_size(index),
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
        check_search_params(params, self.text, self.nlist)

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


def search_parameters(
    index: Any, selector: Any, k: int, request: SearchParams | None = None
) -> Any:
    """Search parameters of the type ``index`` expects, for one call asking for ``k`` hits per
    query: the index's own nprobe / efSearch (passing parameters overrides them), replaced by
    those of ``request`` (checked by :meth:`IndexKind.check`), and ``selector`` (None for all
    ids).

    efSearch is raised to what the graph is asked for: ``k`` for an HNSW index, nprobe for an
    HNSW coarse quantizer. FAISS 1.15 keeps only efSearch candidates, so an HNSW32 collection of
    600 documents answered k=600 with about 230-420 hits at the default efSearch of 16.

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
        if isinstance(quantizer, faiss.IndexHNSW):
            quantizer_params = _hnsw_parameters(quantizer, request.ef_search, params.nprobe)
            params.quantizer_params = quantizer_params
            params.referenced = quantizer_params  # SWIG does not keep it alive
    elif isinstance(core, faiss.IndexHNSW):
        params = _hnsw_parameters(core, request.ef_search, k)
    else:
        params = faiss.SearchParameters()
    params.sel = selector
    return params


def _hnsw_parameters(index: Any, ef_search: int | None, wanted: int) -> Any:
    """efSearch (the request's, else the index's own) raised to the ``wanted`` results, and
    capped at the number of vectors: more explores nothing more, and a huge value would make
    FAISS allocate a huge candidate heap (``efSearch=2000000000``: std::bad_alloc)."""
    params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # missing in stub
    ef_search = index.hnsw.efSearch if ef_search is None else ef_search
    params.efSearch = min(max(ef_search, wanted), max(int(index.ntotal), 1))
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


def _check_numbers(text: str, factory: str) -> None:
    """Numbers FAISS's factory accepts but that crash it, compute nothing, or allocate without
    bound before the first vector (see the table in the module docstring)."""
    for match in re.finditer(r"\d+", factory):
        if not 1 <= int(match.group()) <= MAX_FACTORY_NUMBER:
            raise InvalidArgumentError(
                f"index {text!r}: {match.group()} is out of range: every number in a FAISS "
                f"factory string must be in 1..{MAX_FACTORY_NUMBER:,} here (0 lists, links, "
                "bits or dimensions crash FAISS or keep nothing; more lists or codebook "
                f"entries than the {TRAIN_SAMPLE:,} vectors a training samples can never train)"
            )
    for match in re.finditer(r"(?<![A-Za-z])PQ\d+x(\d+)", factory):
        if int(match.group(1)) > MAX_PQ_BITS:
            raise InvalidArgumentError(
                f"index {text!r}: PQ codes of {match.group(1)} bits are too many: at most "
                f"{MAX_PQ_BITS} (2**bits centroids per sub-quantizer must train on at most "
                f"{TRAIN_SAMPLE:,} vectors; PQ8x24 at dimension 384 asks for 25 GB)"
            )


def _check_runnable(text: str, index: Any) -> None:
    """What FAISS builds but cannot run, found on the built (empty) index: each of these
    crashed the process (SIGSEGV, SIGABRT, SIGFPE), failed every search, or never trained."""
    core = _core(index)
    graph = _graph(core)
    if graph is not None and not 2 <= _hnsw_m(graph) <= MAX_HNSW_M:
        raise InvalidArgumentError(
            f"index {text!r}: an HNSW graph needs M (links per vector) in 2..{MAX_HNSW_M}: "
            "FAISS builds HNSW1 but crashes the server at the first document, and above "
            f"{MAX_HNSW_M} the links take more memory than the vectors"
        )
    if isinstance(core, faiss.IndexIVF):
        quantizer = faiss.downcast_index(core.quantizer)
        if not isinstance(quantizer, (faiss.IndexFlat, faiss.IndexHNSW)):
            raise InvalidArgumentError(
                f"index {text!r}: the coarse quantizer ({type(quantizer).__name__}) is not "
                "supported: FAISS cannot train it for IVF lists; use a flat one (IVF1024,...) "
                "or a graph (IVF1024_HNSW32,...)"
            )
    if isinstance(core, faiss.IndexIVFAdditiveQuantizer):
        raise InvalidArgumentError(
            f"index {text!r}: additive quantizer codes (RQ, LSQ) are not supported: FAISS "
            "cannot filter ids while searching them (deleted documents, metadata filters)"
        )
    for transform in _transforms(index):
        if transform.d_out > transform.d_in:
            raise InvalidArgumentError(
                f"index {text!r}: {type(transform).__name__} cannot output {transform.d_out} "
                f"dimensions from {transform.d_in}; use at most {transform.d_in} (PCA never "
                "trains so, and more dimensions add memory and training time, not information)"
            )
        if isinstance(transform, faiss.OPQMatrix) and transform.d_out % transform.M:
            raise InvalidArgumentError(
                f"index {text!r}: OPQ{transform.M} cannot split {transform.d_out} dimensions "
                f"into {transform.M} equal parts, so FAISS would never train it; pick M "
                f"dividing {transform.d_out}"
            )


def _hnsw_m(graph: Any) -> int:
    """M of an HNSW graph: half the links of level 0; 0 when FAISS set up no level at all."""
    levels = faiss.vector_to_array(graph.cum_nneighbor_per_level)
    return int(levels[1]) // 2 if len(levels) > 1 else 0


def _transforms(index: Any) -> list[Any]:
    """The vector transforms (PCA, OPQ, ...) of every pre-transform wrapper around the core."""
    found = []
    index = faiss.downcast_index(index)
    while isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2, faiss.IndexPreTransform)):
        if isinstance(index, faiss.IndexPreTransform):
            chain: Any = index.chain  # a SWIG vector (the stub says list)
            found += [faiss.downcast_VectorTransform(chain.at(i)) for i in range(chain.size())]
        index = faiss.downcast_index(index.index)
    return found


def _split_k_factor(text: str, parameters: str) -> tuple[str, int | None]:
    """The ParameterSpace string without simsearch's ``k_factor=N``, and N (None if absent)."""
    kept, k_factor = [], None
    for item in filter(None, (part.strip() for part in parameters.split(","))):
        name, _, value = (part.strip() for part in item.partition("="))
        if name != _K_FACTOR:
            kept.append(item)
        elif _is_digits(value) and 1 <= int(value) <= MAX_K_FACTOR:
            k_factor = int(value)
        else:
            raise InvalidArgumentError(
                f"index {text!r}: k_factor must be an integer in 1..{MAX_K_FACTOR}, got {value!r}"
            )
    return ",".join(kept), k_factor


def _check_ef_construction(text: str, parameters: str) -> None:
    """``efConstruction`` (and ``quantizer_efConstruction``) is an integer in
    1..MAX_EF_CONSTRUCTION: FAISS takes 0, negatives, fractions and huge values (docstring)."""
    for item in filter(None, (part.strip() for part in parameters.split(","))):
        name, _, value = (part.strip() for part in item.partition("="))
        if name.endswith("efConstruction") and not (
            _is_digits(value) and 1 <= int(value) <= MAX_EF_CONSTRUCTION
        ):
            raise InvalidArgumentError(
                f"index {text!r}: {name} must be an integer in 1..{MAX_EF_CONSTRUCTION} (the "
                f"candidates each insert explores; FAISS's default is 40), got {value!r}"
            )


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


def _is_digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` then refuses."""
    return re.fullmatch(r"[0-9]+", text) is not None


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


def _train_size(index: Any) -> int:
    """Vectors needed before FAISS can train ``index``, never fewer than ``MIN_TRAIN``: 39 per
    IVF list (FAISS's k-means minimum per centroid), and each pre-transform's output
    dimension: PCA trained on fewer fails, and OPQ crashed the process (SIGSEGV: ``OPQ8,Flat``
    at dimension 384 trained on 256-383 vectors). A training that still fails (PQ codes of
    more than 8 bits want 2**bits vectors) is postponed until twice as many are stored."""
    core = _core(index)
    needed = [MIN_TRAIN, *(int(transform.d_out) for transform in _transforms(index))]
    if isinstance(core, faiss.IndexIVF):
        needed.append(POINTS_PER_CENTROID * int(core.nlist))
    return max(needed)


def _reason(exc: RuntimeError) -> str:
    """FAISS's message without its C++ location prefix."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    last = lines[-1] if lines else str(exc)
    return last.split(": ", 1)[-1] if last.startswith("Error in") else last
