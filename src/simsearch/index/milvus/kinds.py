"""Index kinds on Milvus: simsearch's index strings mapped explicitly to Milvus index types.

The same strings as the FAISS backend (``simsearch.index.kinds``), the subset Milvus can run:

=================================  ==========================================  ===============
simsearch index                    Milvus index (metric IP)                    search params
=================================  ==========================================  ===============
``flat``                           FLAT                                        (exact)
``HNSW<M>`` / ``HNSW<M>,Flat``     HNSW M, efConstruction (default 40)         ef
``IVF<nlist>,Flat``                IVF_FLAT nlist                              nprobe
``IVF<nlist>,SQ8``                 IVF_SQ8 nlist (lossy: rescored)             nprobe
``IVF<nlist>,PQ<m>[x<nbits>]``     IVF_PQ nlist, m, nbits (default 8; lossy;   nprobe
                                   Milvus server only: milvus-lite has none)
=================================  ==========================================  ===============

Parameters after ``|`` as for FAISS: ``efSearch`` and ``efConstruction`` (HNSW), ``nprobe``
(IVF, ``1..nlist``), ``k_factor`` (lossy kinds: candidates per hit, rescored exactly with the
stored vectors, default 4). Defaults are FAISS's, so a kind means the same on both backends:
efSearch 16, efConstruction 40, nprobe 1. Per request, :class:`~simsearch.types.SearchParams`
override ef and nprobe; ef is raised to the number of candidates asked (Milvus refuses
``ef < limit``; FAISS's backend does the same). A filtered HNSW search without a request ef
runs at ef ``max(efSearch, FILTERED_EF_FLOOR)`` (256): Milvus' filtered graph walk misses
matches at FAISS's ef; the ef of a request is always used as given (then raised to the limit).
Anything else (PQ/SQ without IVF, OPQ, PCA, HNSW over SQ, an HNSW coarse quantizer, RaBitQ ...)
is an InvalidArgumentError at create time naming what Milvus supports. Ranges are Milvus 2.3's:
nlist ``1..65536``, M ``2..256`` (256 as for FAISS; Milvus takes up to 2048), nbits ``1..16``,
ef up to 32768.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from simsearch.errors import InvalidArgumentError, quoted
from simsearch.index.search_params import check_search_params
from simsearch.types import SearchParams

__all__ = ["DEFAULT_K_FACTOR", "FILTERED_EF_FLOOR", "MilvusKind", "supported"]

DEFAULT_K_FACTOR = 4
MAX_K_FACTOR = 100
MAX_NLIST = 65536
MAX_HNSW_M = 256
MAX_EF_CONSTRUCTION = 2048
MAX_EF = 32768
MAX_NPROBE = 65536
DEFAULT_EF_SEARCH = 16  # FAISS's defaults: a kind means the same on both backends
DEFAULT_EF_CONSTRUCTION = 40
DEFAULT_NPROBE = 1
# HNSW's default ef for a search with a pushed-down filter. Milvus 2.3.5 walks its HNSW graph
# with the filter's bitset and misses matches: measured on 100k clustered documents (bench/
# search.py's mixture, a filter keeping a tenth, one compacted segment), recall@10 0.51 at ef
# 16, 0.73-0.76 at 64..4096 (a plateau: ef is not the whole cure), p50 9.0 -> 9.7 ms at 256.
# Only the default moves: a request's ef wins.
FILTERED_EF_FLOOR = 256
MAX_INDEX_CHARS = 256

_HNSW = re.compile(r"HNSW(\d+)(?:,Flat)?")
_IVF = re.compile(r"IVF(\d+),(Flat|SQ8|PQ(\d+)(?:x(\d+))?)")
_PARAMETERS = {
    "HNSW": ("efSearch", "efConstruction"),
    "IVF_FLAT": ("nprobe",),
    "IVF_SQ8": ("nprobe", "k_factor"),
    "IVF_PQ": ("nprobe", "k_factor"),
    "FLAT": (),
}


def supported(*, lite: bool) -> str:
    """The kinds this backend runs, for error messages."""
    kinds = "'flat', 'HNSW<M>' (| efSearch, efConstruction), 'IVF<nlist>,Flat', 'IVF<nlist>,SQ8'"
    if not lite:
        kinds += ", 'IVF<nlist>,PQ<m>[x<nbits>]'"
    return kinds + " (IVF: | nprobe)"


@dataclass(frozen=True)
class MilvusKind:
    """A parsed index kind: the Milvus index it builds and how it is searched.

    index_type / build_params: what ``create_index`` gets. ef_search / nprobe: the kind's
    search defaults. nlist: IVF lists (0 otherwise). k_factor: candidates per hit to rescore
    exactly (1 for kinds that store vectors as they are).
    """

    text: str
    dimension: int
    index_type: str
    build_params: dict[str, Any] = field(default_factory=dict)
    ef_search: int = 0
    nprobe: int = 0
    nlist: int = 0
    k_factor: int = 1

    @property
    def lossy(self) -> bool:
        return self.index_type in ("IVF_SQ8", "IVF_PQ")

    @classmethod
    def parse(cls, text: str, dimension: int, *, lite: bool) -> MilvusKind:
        """InvalidArgumentError naming what Milvus (or milvus-lite) supports when ``text`` is
        not a kind it runs."""
        if len(text) > MAX_INDEX_CHARS:
            raise _unsupported(text, "it is too long", lite)
        factory, _, parameter_text = (part.strip() for part in text.partition("|"))
        values = _parameters(text, parameter_text)
        kind = _kind(text, factory, dimension, lite)
        allowed = _PARAMETERS[kind.index_type]
        for name in values:
            if name not in allowed:
                raise InvalidArgumentError(
                    f"index {text!r}: parameter {name!r} does not apply to Milvus "
                    f"{kind.index_type}; it takes {', '.join(allowed) or 'no parameters'}"
                )
        return kind._with(text, values)

    def check(self, params: SearchParams | None) -> None:
        """InvalidArgumentError for request parameters never valid for this kind (as FAISS's
        backend: non-positive values, nprobe above nlist); others are ignored."""
        check_search_params(params, self.text, self.nlist)

    def search_params(
        self, params: SearchParams | None, limit: int, *, filtered: bool = False
    ) -> dict[str, Any]:
        """Milvus search parameters for ``limit`` candidates (metric IP). ``filtered``: the
        search carries a pushed-down expression, which raises HNSW's default ef to
        ``FILTERED_EF_FLOOR`` (an ef the request gives is kept as it is)."""
        values: dict[str, Any] = {}
        if self.index_type == "HNSW":
            if params is not None and params.ef_search is not None:
                ef = params.ef_search
            else:
                ef = max(self.ef_search, FILTERED_EF_FLOOR if filtered else 0)
            values["ef"] = min(max(ef, limit), MAX_EF)
        elif self.nlist:
            nprobe = self.nprobe if params is None or params.nprobe is None else params.nprobe
            values["nprobe"] = min(nprobe, self.nlist)
        return {"metric_type": "IP", "params": values}

    def _with(self, text: str, values: dict[str, int]) -> MilvusKind:
        build = dict(self.build_params)
        ef_search, nprobe, k_factor = self.ef_search, self.nprobe, self.k_factor
        if "efConstruction" in values:
            build["efConstruction"] = _ranged(text, "efConstruction", values, MAX_EF_CONSTRUCTION)
        if "efSearch" in values:
            ef_search = _ranged(text, "efSearch", values, MAX_EF)
        if "nprobe" in values:
            nprobe = _ranged(text, "nprobe", values, self.nlist)
        if "k_factor" in values:
            k_factor = _ranged(text, "k_factor", values, MAX_K_FACTOR)
        return MilvusKind(
            text=text,
            dimension=self.dimension,
            index_type=self.index_type,
            build_params=build,
            ef_search=ef_search,
            nprobe=nprobe,
            nlist=self.nlist,
            k_factor=k_factor,
        )


def _kind(text: str, factory: str, dimension: int, lite: bool) -> MilvusKind:
    if factory == "flat":
        return MilvusKind(text, dimension, "FLAT")
    hnsw = _HNSW.fullmatch(factory)
    if hnsw:
        m = _number(text, "M", hnsw.group(1), 2, MAX_HNSW_M)
        return MilvusKind(
            text,
            dimension,
            "HNSW",
            {"M": m, "efConstruction": DEFAULT_EF_CONSTRUCTION},
            ef_search=DEFAULT_EF_SEARCH,
        )
    ivf = _IVF.fullmatch(factory)
    if not ivf:
        raise _unsupported(text, "Milvus has no such index", lite)
    nlist = _number(text, "nlist", ivf.group(1), 1, MAX_NLIST)
    codes = ivf.group(2)
    common = {"nlist": nlist}
    if codes == "Flat":
        return MilvusKind(text, dimension, "IVF_FLAT", common, nprobe=DEFAULT_NPROBE, nlist=nlist)
    lossy = {"nprobe": DEFAULT_NPROBE, "nlist": nlist, "k_factor": DEFAULT_K_FACTOR}
    if codes == "SQ8":
        return MilvusKind(text, dimension, "IVF_SQ8", common, **lossy)
    if lite:
        raise _unsupported(text, "milvus-lite has no IVF_PQ", lite)
    m = _number(text, "PQ's m", ivf.group(3), 1, dimension)
    nbits = _number(text, "PQ's nbits", ivf.group(4) or "8", 1, 16)
    if dimension % m:
        raise InvalidArgumentError(
            f"index {text!r}: PQ's m ({m}) must divide the dimension ({dimension})"
        )
    return MilvusKind(text, dimension, "IVF_PQ", {**common, "m": m, "nbits": nbits}, **lossy)


def _parameters(text: str, parameter_text: str) -> dict[str, int]:
    values: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in parameter_text.split(","))):
        name, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not value.isdigit() or not value.isascii():
            raise InvalidArgumentError(
                f"index {text!r}: parameter {item!r} is not name=<positive integer>"
            )
        if name in values:
            raise InvalidArgumentError(f"index {text!r}: parameter {name!r} is given twice")
        values[name] = int(value)
    return values


def _ranged(text: str, name: str, values: dict[str, int], high: int) -> int:
    return _number(text, name, str(values[name]), 1, high)


def _number(text: str, name: str, digits: str, low: int, high: int) -> int:
    value = int(digits)
    if not low <= value <= high:
        raise InvalidArgumentError(
            f"index {text!r}: {name} must be in {low}..{high} on Milvus, got {value}"
        )
    return value


def _unsupported(text: str, why: str, lite: bool) -> InvalidArgumentError:
    backend = "milvus-lite" if lite else "Milvus"
    return InvalidArgumentError(
        f"index {quoted(text)} cannot be built on {backend} ({why}); it supports "
        f"{supported(lite=lite)}"
    )
