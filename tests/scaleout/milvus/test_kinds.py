"""Index kinds: simsearch's strings mapped explicitly to Milvus index types and parameters."""

from __future__ import annotations

import pytest

from simsearch.errors import InvalidArgumentError
from simsearch.index.milvus.kinds import MilvusKind
from simsearch.types import SearchParams


@pytest.mark.parametrize(
    ("text", "index_type", "build", "lossy"),
    [
        ("flat", "FLAT", {}, False),
        ("HNSW32", "HNSW", {"M": 32, "efConstruction": 40}, False),
        ("HNSW16,Flat | efConstruction=64", "HNSW", {"M": 16, "efConstruction": 64}, False),
        ("IVF128,Flat", "IVF_FLAT", {"nlist": 128}, False),
        ("IVF64,SQ8 | nprobe=8", "IVF_SQ8", {"nlist": 64}, True),
        ("IVF64,PQ48", "IVF_PQ", {"nlist": 64, "m": 48, "nbits": 8}, True),
        ("IVF64,PQ8x4", "IVF_PQ", {"nlist": 64, "m": 8, "nbits": 4}, True),
    ],
)
def test_supported_kinds_map_explicitly(
    text: str, index_type: str, build: dict[str, int], lossy: bool
) -> None:
    kind = MilvusKind.parse(text, 384, lite=False)
    assert (kind.index_type, kind.build_params, kind.lossy) == (index_type, build, lossy)


@pytest.mark.parametrize(
    "text",
    [
        "Flat",
        "HNSW32,SQ8",
        "HNSW1",
        "IVF0,Flat",
        "IVF100000,Flat",
        "IVF16_HNSW32,Flat",
        "OPQ16,IVF64,PQ16",
        "PCA64,Flat",
        "SQ8",
        "IVF16,PQ7",
        "IVF16,RaBitQ",
        "HNSW32 | nprobe=4",
        "IVF16,Flat | efSearch=4",
        "IVF16,Flat | nprobe=17",
        "IVF16,Flat | k_factor=2",
        "HNSW32 | efSearch=0",
        "HNSW32 | efSearch=x",
        "flat | nprobe=1",
        "x" * 300,
    ],
)
def test_other_kinds_are_invalid_at_create_time(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"index|Milvus"):
        MilvusKind.parse(text, 384, lite=False)


def test_unsupported_kind_says_what_milvus_supports() -> None:
    with pytest.raises(InvalidArgumentError, match=r"supports 'flat', 'HNSW<M>'.*IVF<nlist>,PQ"):
        MilvusKind.parse("NSG32", 384, lite=False)


def test_milvus_lite_has_no_ivf_pq() -> None:
    with pytest.raises(InvalidArgumentError, match="milvus-lite") as caught:
        MilvusKind.parse("IVF16,PQ8", 384, lite=True)
    assert "PQ" not in str(caught.value).split("supports")[1]


def test_search_parameters_follow_faiss_defaults_and_requests() -> None:
    hnsw = MilvusKind.parse("HNSW32", 8, lite=True)
    assert hnsw.search_params(None, 10)["params"] == {"ef": 16}
    assert hnsw.search_params(None, 100)["params"] == {"ef": 100}  # ef is at least the limit
    assert hnsw.search_params(SearchParams(ef_search=64), 10)["params"] == {"ef": 64}
    ivf = MilvusKind.parse("IVF16,Flat | nprobe=4", 8, lite=True)
    assert ivf.search_params(None, 10) == {"metric_type": "IP", "params": {"nprobe": 4}}
    assert ivf.search_params(SearchParams(nprobe=16), 10)["params"] == {"nprobe": 16}
    assert MilvusKind.parse("flat", 8, lite=True).search_params(None, 5)["params"] == {}


@pytest.mark.parametrize(
    "params", [SearchParams(nprobe=17), SearchParams(nprobe=0), SearchParams(ef_search=-1)]
)
def test_bad_request_parameters_are_invalid(params: SearchParams) -> None:
    with pytest.raises(InvalidArgumentError):
        MilvusKind.parse("IVF16,Flat", 8, lite=True).check(params)


def test_lossy_kinds_rescore_k_factor_candidates() -> None:
    assert MilvusKind.parse("IVF16,SQ8", 8, lite=True).k_factor == 4
    assert MilvusKind.parse("IVF16,SQ8 | k_factor=10", 8, lite=True).k_factor == 10
    assert MilvusKind.parse("HNSW32", 8, lite=True).k_factor == 1
