"""HNSW build quality: ``efConstruction`` from the index string reaches the built graph, stays
through snapshots, restarts and rebuilds, and bad values are refused with the rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simsearch.engine import Engine
from simsearch.errors import InvalidArgumentError
from simsearch.index import FaissCatalog, FaissCollection
from simsearch.index.collection import SNAPSHOT_FILE
from simsearch.index.kinds import MAX_EF_CONSTRUCTION, IndexKind, _core
from simsearch.index.vectors import VectorIndex
from simsearch.types import Document, Limits
from unit.fake_encoder import FakeEncoder
from unit.index_fixtures import DIMENSION, spec, unit_vectors

INDEX = "HNSW16 | efConstruction=80,efSearch=24"


def graph(vectors: VectorIndex) -> Any:
    """The HNSW graph of an index (kept alive by ``vectors``)."""
    return _core(vectors._index).hnsw


def graph_of(collection: FaissCollection) -> Any:
    return graph(collection._vectors)


def documents(n: int) -> list[Document]:
    return [Document(f"doc-{i}", f"text {i}") for i in range(n)]


def test_ef_construction_reaches_the_built_index() -> None:
    kind = IndexKind.parse(INDEX, DIMENSION)
    built = VectorIndex.empty(kind)
    assert graph(built).efConstruction == 80
    assert graph(built).efSearch == 24
    assert graph(VectorIndex.empty(IndexKind.parse("HNSW16", DIMENSION))).efConstruction == 40


def test_ef_construction_survives_a_snapshot_round_trip() -> None:
    kind = IndexKind.parse(INDEX, DIMENSION)
    built = VectorIndex.empty(kind)
    built.add(np.arange(50, dtype=np.int64), unit_vectors(50, seed=1))
    no_tombstones = np.zeros(0, dtype=np.int64)
    loaded = VectorIndex.from_bytes(kind, built.to_bytes(), staging=False, tombstones=no_tombstones)
    assert graph(loaded).efConstruction == 80


def test_ef_construction_survives_restart_and_rebuild(tmp_path: Path) -> None:
    data = tmp_path / "data"
    catalog = FaissCatalog(data, checkpoint_every=10**6)
    collection = catalog.create(spec(index=INDEX))
    collection.upsert(documents(300), unit_vectors(300, seed=2))
    assert graph_of(collection).efConstruction == 80
    catalog.close()  # writes the snapshot

    catalog = FaissCatalog(data, checkpoint_every=10**6)  # a restart: loaded from the snapshot
    collection = catalog.open("docs")
    assert graph_of(collection).efConstruction == 80
    collection.upsert(documents(310)[300:], unit_vectors(10, seed=3))  # added after the restart
    assert collection.count() == 310
    catalog.close()

    (data / "docs" / SNAPSHOT_FILE).unlink()  # no snapshot: rebuilt from the store
    catalog = FaissCatalog(data, checkpoint_every=10**6)
    collection = catalog.open("docs")
    assert graph_of(collection).efConstruction == 80
    assert collection.count() == 310
    catalog.close()


def test_compaction_keeps_ef_construction(catalog: FaissCatalog) -> None:
    collection = catalog.create(spec(index=INDEX))
    collection.upsert(documents(300), unit_vectors(300, seed=4))
    collection.delete([f"doc-{i}" for i in range(100)])  # over the tombstone ratio: rebuilt
    assert not collection._vectors.tombstones.size
    assert graph_of(collection).efConstruction == 80


@pytest.mark.parametrize(
    "value", ["0", "-5", "1.5", "abc", "", "²", str(MAX_EF_CONSTRUCTION + 1), "100000000"]
)
def test_bad_ef_construction_is_refused_with_the_rule(value: str) -> None:
    with pytest.raises(InvalidArgumentError) as error:
        IndexKind.parse(f"HNSW32 | efConstruction={value}", DIMENSION)
    assert f"efConstruction must be an integer in 1..{MAX_EF_CONSTRUCTION}" in str(error.value)
    assert repr(value) in str(error.value)


@pytest.mark.parametrize("value", ["1", "40", str(MAX_EF_CONSTRUCTION)])
def test_ef_construction_bounds_are_accepted(value: str) -> None:
    kind = IndexKind.parse(f"HNSW32 | efConstruction={value}", DIMENSION)
    assert graph(VectorIndex.empty(kind)).efConstruction == int(value)


def test_ef_construction_on_a_kind_without_a_graph_is_refused() -> None:
    for index in ("flat | efConstruction=80", "IVF16,Flat | efConstruction=80"):
        with pytest.raises(InvalidArgumentError, match="could not set parameter efConstruction"):
            IndexKind.parse(index, DIMENSION)


def test_the_engine_refuses_a_bad_value_before_anything_is_on_disk(tmp_path: Path) -> None:
    catalog = FaissCatalog(tmp_path / "data")
    engine = Engine(FakeEncoder("fake-fingerprint"), catalog, Limits())
    with pytest.raises(InvalidArgumentError, match=r"efConstruction must be an integer"):
        engine.create_collection("docs", index="HNSW32 | efConstruction=0")
    assert catalog.names() == []
    info = engine.create_collection("docs", index="HNSW32 | efConstruction=64")
    assert info.spec.index == "HNSW32 | efConstruction=64"
    engine.close()
