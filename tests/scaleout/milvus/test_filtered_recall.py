"""Filtered HNSW searches on Milvus run at a wider default ef (``kinds.FILTERED_EF_FLOOR``).

Milvus 2.3.5's filtered HNSW walk misses matches at FAISS's default ef (16); the floor raises
only the default of a filtered search: unfiltered searches, other kinds and a request's own ef
are unchanged. Checked on the parameters the collection sends (a recording client), which is
deterministic: the recall gain itself depends on Milvus' segment state and is measured in
``bench/milvus.py``, not asserted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simsearch.index.milvus.collection import MilvusCollection
from simsearch.index.milvus.kinds import DEFAULT_EF_SEARCH, FILTERED_EF_FLOOR, MAX_EF, MilvusKind
from simsearch.index.milvus.schema import Record
from simsearch.types import SearchParams

from .helpers import make_spec


def test_filtered_default_ef_is_raised_to_the_floor() -> None:
    hnsw = MilvusKind.parse("HNSW32", 8, lite=False)
    assert hnsw.search_params(None, 10)["params"] == {"ef": DEFAULT_EF_SEARCH}
    assert hnsw.search_params(None, 10, filtered=True)["params"] == {"ef": FILTERED_EF_FLOOR}
    # candidates beyond the floor still raise ef (Milvus refuses ef < limit)
    assert hnsw.search_params(None, 1000, filtered=True)["params"] == {"ef": 1000}
    assert hnsw.search_params(None, 40000, filtered=True)["params"] == {"ef": MAX_EF}


def test_a_larger_index_ef_is_kept_when_filtered() -> None:
    hnsw = MilvusKind.parse("HNSW32 | efSearch=512", 8, lite=False)
    assert hnsw.search_params(None, 10, filtered=True)["params"] == {"ef": 512}


def test_the_request_ef_wins_over_the_floor() -> None:
    hnsw = MilvusKind.parse("HNSW32", 8, lite=False)
    params = SearchParams(ef_search=20)
    assert hnsw.search_params(params, 10, filtered=True)["params"] == {"ef": 20}
    assert hnsw.search_params(params, 50, filtered=True)["params"] == {"ef": 50}  # >= limit


def test_other_kinds_are_unchanged_when_filtered() -> None:
    ivf = MilvusKind.parse("IVF16,Flat", 8, lite=False)
    assert ivf.search_params(None, 10, filtered=True)["params"] == {"nprobe": 1}
    assert MilvusKind.parse("flat", 8, lite=False).search_params(None, 10, filtered=True) == {
        "metric_type": "IP",
        "params": {},
    }


class _RecordingClient:
    """Answers every search with no hits and keeps the search parameters it was sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def search(self, *args: Any, search_params: dict[str, Any], **kwargs: Any) -> list[list[Any]]:
        self.sent.append(search_params["params"])
        return [[] for _ in kwargs["data"]]


def test_the_collection_sends_the_floor_only_with_a_pushed_down_filter() -> None:
    spec = make_spec("recall", index="HNSW32")
    client = _RecordingClient()
    collection = MilvusCollection(
        client,
        "recall_milvus",
        Record(uid="u", spec=spec, created_at=0.0),
        MilvusKind.parse(spec.index, spec.dimension, lite=False),
        consistency="Strong",
        timeout=5.0,
    )
    query = np.ones((1, spec.dimension), dtype=np.float32)
    collection.search(query, 10)
    collection.search(query, 10, {"group": 3})
    collection.search(query, 10, {"group": None})  # nothing pushed down: Milvus gets no filter
    collection.search(query, 10, {"group": 3}, SearchParams(ef_search=32))
    assert client.sent == [
        {"ef": DEFAULT_EF_SEARCH},
        {"ef": FILTERED_EF_FLOOR},
        {"ef": DEFAULT_EF_SEARCH},
        {"ef": 32},
    ]
