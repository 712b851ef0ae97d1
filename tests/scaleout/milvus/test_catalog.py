"""The catalog lives in Milvus: two catalogs on one server stand for two front-ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient

from scaleout.milvus.helpers import make_spec, unique_name
from simsearch.errors import (
    AlreadyExistsError,
    NotFoundError,
    SimsearchError,
    UnavailableError,
)
from simsearch.index.milvus import MilvusCatalog
from simsearch.index.milvus.names import to_milvus
from simsearch.types import Document


@pytest.fixture
def front_ends(milvus_server_uri: str) -> Iterator[tuple[MilvusCatalog, MilvusCatalog]]:
    first, second = MilvusCatalog(milvus_server_uri), MilvusCatalog(milvus_server_uri)
    yield first, second
    first.close()
    second.close()


def _unit(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_collection_created_by_one_front_end_is_seen_by_the_other(
    front_ends: tuple[MilvusCatalog, MilvusCatalog],
) -> None:
    first, second = front_ends
    name = unique_name("shared")
    spec = make_spec(name, index="HNSW16")
    created = first.create(spec)
    assert name in second.names()
    opened = second.open(name)
    assert (opened.spec, opened.created_at) == (spec, created.created_at)
    with pytest.raises(AlreadyExistsError):
        second.create(spec)
    first.drop(name)


def test_writes_acknowledged_by_one_are_visible_to_the_others_next_read(
    front_ends: tuple[MilvusCatalog, MilvusCatalog],
) -> None:
    first, second = front_ends
    name = unique_name("visible")
    writer = first.create(make_spec(name))
    reader = second.open(name)
    vectors = _unit(3)
    for round in range(3):  # each read right after the write that it must see
        doc = Document(f"d{round}", f"text {round}", {"round": round})
        writer.upsert([doc], vectors[round : round + 1])
        assert reader.count() == round + 1
        assert reader.get([doc.id]) == [doc]
        hits = reader.search(vectors[round : round + 1], 1, {"round": round})[0]
        assert [hit.id for hit in hits] == [doc.id]
    assert writer.delete(["d0"]) == 1
    assert reader.get(["d0"]) == [None]
    first.drop(name)


def test_a_drop_and_re_create_by_another_front_end_is_seen(
    front_ends: tuple[MilvusCatalog, MilvusCatalog],
) -> None:
    first, second = front_ends
    name = unique_name("recreated")
    first.create(make_spec(name))
    assert second.open(name).spec.index == "flat"
    second.drop(name)
    with pytest.raises(NotFoundError):
        first.open(name)
    second.create(make_spec(name, index="IVF4,Flat", dimension=16))
    assert first.open(name).spec.dimension == 16
    first.drop(name)
    with pytest.raises(NotFoundError):
        second.drop(name)


def test_a_collection_dropped_under_an_open_handle_is_not_found(
    front_ends: tuple[MilvusCatalog, MilvusCatalog],
) -> None:
    first, second = front_ends
    name = unique_name("gone")
    handle = first.create(make_spec(name))
    second.drop(name)
    with pytest.raises(NotFoundError, match=name):
        handle.count()


def test_concurrent_creates_of_one_name_give_one_collection(
    front_ends: tuple[MilvusCatalog, MilvusCatalog],
) -> None:
    name = unique_name("race")
    outcomes: list[object] = []
    start = threading.Barrier(4)

    def create(catalog: MilvusCatalog, index: str) -> None:
        start.wait()
        try:
            outcomes.append(catalog.create(make_spec(name, index=index)).spec.index)
        except SimsearchError as exc:
            outcomes.append(type(exc))

    threads = [
        threading.Thread(target=create, args=(catalog, index))
        for catalog in front_ends
        for index in ("flat", "HNSW8")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [outcome for outcome in outcomes if isinstance(outcome, str)]
    assert len(winners) == 1, outcomes
    assert outcomes.count(AlreadyExistsError) == 3, outcomes
    assert all(catalog.open(name).spec.index == winners[0] for catalog in front_ends)
    front_ends[0].drop(name)


def test_other_collections_in_the_same_milvus_are_left_alone(
    front_ends: tuple[MilvusCatalog, MilvusCatalog], milvus_server_uri: str
) -> None:
    first, _ = front_ends
    client = MilvusClient(uri=milvus_server_uri)
    schema = MilvusClient.create_schema(auto_id=True)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    foreign, orphan = unique_name("foreign").replace("-", "_"), unique_name("orphan")
    client.create_collection(foreign, schema=schema)
    client.create_collection(to_milvus(orphan), schema=schema)  # ours by name, no record
    try:
        assert foreign not in first.names()
        assert orphan in first.names()
        with pytest.raises(UnavailableError, match="no simsearch catalog record"):
            first.open(orphan)
        info = first.unavailable(orphan)
        assert info is not None and "no simsearch catalog record" in info.unavailable
        first.drop(orphan)
        assert orphan not in first.names()
        assert client.has_collection(foreign)
    finally:
        client.drop_collection(foreign)
        client.close()


def test_ties_go_to_the_older_document(catalog: MilvusCatalog) -> None:
    collection = catalog.create(make_spec(unique_name("ties")))
    same = np.repeat(_unit(1, seed=3), 12, axis=0)
    for i in range(12):  # separate writes: each newer than the one before
        collection.upsert([Document(f"d{i:02}", "t")], same[i : i + 1])
    collection.upsert([Document("d05", "replaced: now the newest")], same[:1])
    hits = collection.search(same[:1], 4)[0]
    assert [hit.id for hit in hits] == ["d00", "d01", "d02", "d03"]
    all_hits = collection.search(same[:1], 12)[0]
    assert [hit.id for hit in all_hits][-1] == "d05"


def test_filtered_search_returns_k_hits_when_k_match(catalog: MilvusCatalog) -> None:
    """Hits the re-check drops (here booleans where the filter asks a number, and a null
    filter Milvus cannot evaluate) are made up for by asking for more candidates."""
    collection = catalog.create(make_spec(unique_name("refill")))
    vectors = _unit(300, seed=4)
    docs = [
        Document(f"d{i}", "t", {"k": True if i % 10 else 1, "n": None if i % 50 == 0 else 0})
        for i in range(300)
    ]
    collection.upsert(docs, vectors)
    query = vectors[:1]
    ones = collection.search(query, 20, {"k": 1})[0]
    matching = np.arange(0, 300, 10)
    best = matching[np.argsort(-(vectors[matching] @ query[0]), kind="stable")[:20]]
    assert [hit.id for hit in ones] == [f"d{i}" for i in best]
    nulls = collection.search(query, 10, {"n": None})[0]
    assert sorted(hit.id for hit in nulls) == sorted(f"d{i}" for i in range(0, 300, 50))
    scores = [hit.score for hit in ones]
    assert scores == sorted(scores, reverse=True)


def test_past_milvus_topk_the_candidates_are_scanned(
    lite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filter Milvus cannot evaluate (null) matching documents beyond the topk limit's reach
    is answered by scanning: still the exact k best matches."""
    monkeypatch.setattr("simsearch.index.milvus.limits.MAX_TOPK", 16)
    catalog = MilvusCatalog(lite_uri)
    collection = catalog.create(make_spec(unique_name("scan")))
    vectors = _unit(200, seed=5)
    collection.upsert(
        [Document(f"d{i}", f"t{i}", {"n": None if i % 40 == 7 else 1}) for i in range(200)],
        vectors,
    )
    query = vectors[:1]
    matching = np.arange(7, 200, 40)
    best = matching[np.argsort(-(vectors[matching] @ query[0]), kind="stable")[:4]]
    hits = collection.search(query, 4, {"n": None})[0]
    assert [hit.id for hit in hits] == [f"d{i}" for i in best]
    assert [hit.text for hit in hits] == [f"t{i}" for i in best]
    catalog.close()
