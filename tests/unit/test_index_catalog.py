"""The catalog's lifecycle (create, open, drop, names, close) and document round trips."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simsearch.engine.ports import Catalog, Collection
from simsearch.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from simsearch.index import FaissCatalog, FaissCollection
from simsearch.index.collection import SNAPSHOT_FILE, STORE_FILE
from simsearch.types import Document
from support.stored_spec import set_stored_index
from unit.index_fixtures import spec, unit_vectors


def test_the_classes_satisfy_the_engine_protocols(catalog: FaissCatalog) -> None:
    """Checked by mypy on this file; at runtime the assignments just run."""
    typed_catalog: Catalog = catalog
    typed_collection: Collection = typed_catalog.create(spec())
    assert isinstance(typed_collection, FaissCollection)


def test_create_open_and_names(catalog: FaissCatalog, data_dir: Path) -> None:
    for name in ["zeta", "alpha", "Mid.dle-1"]:
        catalog.create(spec(name))
    assert catalog.names() == ["Mid.dle-1", "alpha", "zeta"]
    assert catalog.open("alpha") is catalog.open("alpha")
    assert sorted(p.name for p in (data_dir / "alpha").iterdir())[:2] == [
        SNAPSHOT_FILE,
        STORE_FILE,
    ]


def test_spec_and_created_at_survive_reopening(catalog: FaissCatalog, data_dir: Path) -> None:
    created = catalog.create(spec(index="HNSW32 | efSearch=64"))
    catalog.close()
    reopened = FaissCatalog(data_dir).open("docs")
    assert reopened.spec == created.spec
    assert reopened.created_at == created.created_at > 0


def test_unknown_collection_is_not_found(catalog: FaissCatalog) -> None:
    with pytest.raises(NotFoundError, match="'nope'"):
        catalog.open("nope")
    with pytest.raises(NotFoundError, match="'nope'"):
        catalog.drop("nope")


def test_duplicate_name_already_exists(catalog: FaissCatalog, data_dir: Path) -> None:
    catalog.create(spec())
    with pytest.raises(AlreadyExistsError, match="'docs'"):
        catalog.create(spec(index="HNSW32"))
    with pytest.raises(AlreadyExistsError):
        FaissCatalog(data_dir).create(spec())


@pytest.mark.parametrize(
    ("index", "reason"),
    [
        ("IVF4,Bogus", "could not parse"),
        ("nonsense", "not a FAISS factory string"),
        ("HNSW32,PQ4", "inner product"),
        ("PQ4", "not supported"),
        ("IVF4,Flat,Refine(Flat)", "not supported"),
        ("IDMap,Flat", "IDMap"),
        ("HNSW32 | nprobe=4", "bad parameters"),
        ("flat | efSearch=3", "bad parameters"),
    ],
)
def test_bad_index_kind_is_invalid_and_leaves_nothing(
    catalog: FaissCatalog, data_dir: Path, index: str, reason: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=reason):
        catalog.create(spec(index=index))
    assert list(data_dir.iterdir()) == []
    assert catalog.names() == []


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "..", "a\\b", "x\0y"])
def test_path_like_names_are_refused(catalog: FaissCatalog, name: str) -> None:
    with pytest.raises(InvalidArgumentError):
        catalog.create(spec(name))
    with pytest.raises(InvalidArgumentError):
        catalog.open(name)


def test_drop_removes_the_files_and_the_name_can_be_reused(
    catalog: FaissCatalog, data_dir: Path
) -> None:
    collection = catalog.create(spec())
    collection.upsert([Document("a", "text")], unit_vectors(1, seed=0))
    catalog.drop("docs")
    assert list(data_dir.iterdir()) == []
    assert catalog.names() == []
    with pytest.raises(UnavailableError):
        collection.count()
    with pytest.raises(NotFoundError):
        catalog.open("docs")
    assert catalog.create(spec()).count() == 0


def test_a_directory_without_a_store_is_no_collection(
    catalog: FaissCatalog, data_dir: Path
) -> None:
    """What a crash in the middle of creating (or a stray mkdir) leaves is not listed."""
    (data_dir / "half").mkdir()
    (data_dir / "half" / SNAPSHOT_FILE).write_bytes(b"junk")
    assert catalog.names() == []
    with pytest.raises(NotFoundError):
        catalog.open("half")
    assert catalog.create(spec("half")).count() == 0
    assert catalog.names() == ["half"]


def test_an_unreadable_store_is_unavailable(data_dir: Path) -> None:
    FaissCatalog(data_dir).create(spec()).close()
    for leftover in (data_dir / "docs").glob(f"{STORE_FILE}-*"):
        leftover.unlink()
    (data_dir / "docs" / STORE_FILE).write_bytes(b"not a database" * 100)
    catalog = FaissCatalog(data_dir)
    assert catalog.names() == ["docs"]
    with pytest.raises(UnavailableError, match="'docs'"):
        catalog.open("docs")
    catalog.drop("docs")
    assert catalog.names() == []


def test_closed_catalog_and_collection_are_unavailable(catalog: FaissCatalog) -> None:
    collection = catalog.create(spec())
    catalog.close()
    catalog.close()  # idempotent
    with pytest.raises(UnavailableError):
        catalog.open("docs")
    with pytest.raises(UnavailableError):
        collection.search(unit_vectors(1, seed=0), 1)


METADATA: list[dict[str, Any]] = [
    {},
    {"lang": "中文", "emoji": "🙂🚀", "rtl": "שלום", "escape": 'quote " back \\ nul \u0000'},
    {"nested": {"deeper": {"list": [1, 2.5, "three", None, True, {"x": []}]}}},
    {"int": 7, "neg": -3, "big": 2**62, "float": 0.1, "tiny": 1e-300, "zero": 0.0},
    {"true": True, "false": False, "null": None},
]


def test_documents_and_metadata_round_trip(catalog: FaissCatalog, data_dir: Path) -> None:
    collection = catalog.create(spec())
    documents = [
        Document(f"id-{i} ✓", f"text {i} 文本", metadata) for i, metadata in enumerate(METADATA)
    ]
    vectors = unit_vectors(len(documents), seed=1)
    collection.upsert(documents, vectors)
    catalog.close()

    reopened = FaissCatalog(data_dir).open("docs")
    ids = [doc.id for doc in documents]
    assert reopened.get([*ids, "unknown"]) == [*documents, None]
    np.testing.assert_array_equal(reopened.get_embeddings(ids[::-1]), vectors[::-1])
    hits = reopened.search(vectors, 1)
    assert [(row[0].id, row[0].text, row[0].metadata) for row in hits] == [
        (doc.id, doc.text, doc.metadata) for doc in documents
    ]


def test_get_embeddings_names_the_missing_ids(catalog: FaissCatalog) -> None:
    collection = catalog.create(spec())
    collection.upsert([Document("a", "text")], unit_vectors(1, seed=0))
    with pytest.raises(NotFoundError, match=r"\['b', 'c'\]"):
        collection.get_embeddings(["a", "b", "c"])
    assert collection.get_embeddings([]).shape == (0, 32)
    assert collection.get([]) == []


def test_delete_counts_what_existed(catalog: FaissCatalog) -> None:
    collection = catalog.create(spec())
    collection.upsert([Document(i, "t") for i in "abc"], unit_vectors(3, seed=0))
    assert collection.delete(["a", "b", "zz"]) == 2
    assert collection.delete(["a", "zz"]) == 0
    assert collection.delete([]) == 0
    assert collection.count() == 1


def test_concurrent_writers_and_readers(catalog: FaissCatalog) -> None:
    collection = catalog.create(spec(index="HNSW32"))
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        for batch in range(10):
            ids = [f"w{worker}-{batch}-{i}" for i in range(10)]
            collection.upsert([Document(i, i) for i in ids], unit_vectors(10, seed=batch))
            collection.delete(ids[:2])

    def read() -> None:
        for _ in range(30):
            for row in collection.search(unit_vectors(4, seed=9), 5, {"missing": None}):
                assert row == []
            collection.search(unit_vectors(4, seed=9), 5)

    def guarded(target: object, *args: int) -> None:
        try:
            assert callable(target)
            target(*args)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(write, w)) for w in range(3)]
    threads += [threading.Thread(target=guarded, args=(read,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert collection.count() == 3 * 10 * 8


def _file_bytes(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def _planted(data_dir: Path, stored_index: str) -> dict[str, bytes]:
    """A good collection and a "bad" one whose stored index is ``stored_index``; the bad
    one's files as they are on disk."""
    catalog = FaissCatalog(data_dir)
    for name in ("good", "bad"):
        catalog.create(spec(name)).upsert([Document("a", "text")], unit_vectors(1, seed=0))
    catalog.close()
    set_stored_index(data_dir / "bad", stored_index)
    return _file_bytes(data_dir / "bad")


def test_a_collection_that_cannot_open_is_unavailable_and_the_others_serve(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = _planted(data_dir, "NoSuchIndex42")
    catalog = FaissCatalog(data_dir)
    assert catalog.names() == ["bad", "good"]
    assert catalog.unavailable("bad") is None  # not tried yet
    for _ in range(3):  # remembered: opened (and logged) once
        with pytest.raises(UnavailableError) as caught:
            catalog.open("bad")
    message = str(caught.value)
    assert message.startswith("collection 'bad' is unavailable: this FAISS cannot build its")
    assert "'NoSuchIndex42'" in message and "dropping it deletes its files" in message
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "'bad'" in r.getMessage()]
    assert len(errors) == 1

    info = catalog.unavailable("bad")
    assert info is not None and info.unavailable in errors[0].getMessage()
    assert info.unavailable in message and "collection 'bad'" not in info.unavailable
    assert (info.spec.name, info.spec.index, info.spec.dimension) == ("bad", "NoSuchIndex42", 32)
    assert info.created_at > 0 and info.count == 0
    assert catalog.open("good").count() == 1
    assert _file_bytes(data_dir / "bad") == files  # left for whoever repairs it

    with pytest.raises(AlreadyExistsError, match=r"unavailable .*drop it first"):
        catalog.create(spec("bad"))
    catalog.drop("bad")
    assert catalog.names() == ["good"] and catalog.unavailable("bad") is None
    assert not (data_dir / "bad").exists()
    assert catalog.create(spec("bad")).count() == 0
    catalog.close()


def test_an_unreadable_store_is_described_by_its_name_only(data_dir: Path) -> None:
    _planted(data_dir, "flat")
    for leftover in (data_dir / "bad").glob(f"{STORE_FILE}-*"):
        leftover.unlink()
    (data_dir / "bad" / STORE_FILE).write_bytes(b"not a database" * 400)
    files = _file_bytes(data_dir / "bad")
    catalog = FaissCatalog(data_dir)
    with pytest.raises(UnavailableError, match=r"is unavailable: could not open the store"):
        catalog.open("bad")
    info = catalog.unavailable("bad")
    assert info is not None
    assert (info.spec.name, info.spec.index, info.spec.dimension, info.created_at) == (
        "bad",
        "",
        0,
        0.0,
    )
    assert "file is not a database" in info.unavailable
    assert catalog.open("good").count() == 1
    assert _file_bytes(data_dir / "bad") == files
    catalog.drop("bad")
    assert catalog.names() == ["good"]


def test_an_unexpected_error_while_opening_is_unavailable_with_its_type(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _planted(data_dir, "flat")
    original = FaissCollection.open

    def failing(directory: Path, **options: Any) -> FaissCollection:
        if directory.name == "bad":
            raise MemoryError("std::bad_alloc")
        return original(directory, **options)

    monkeypatch.setattr(FaissCollection, "open", failing)
    catalog = FaissCatalog(data_dir)
    with pytest.raises(UnavailableError, match="unavailable: MemoryError: std::bad_alloc"):
        catalog.open("bad")
    assert catalog.open("good").count() == 1
    (error,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert error.exc_info is not None  # a bug: the log keeps the traceback
    catalog.close()


def test_a_folder_whose_name_open_refuses_is_not_listed(data_dir: Path) -> None:
    """Listing it would make every ListCollections fail with INVALID_ARGUMENT."""
    FaissCatalog(data_dir).create(spec()).close()
    shutil.copytree(data_dir / "docs", data_dir / "back\\slash")
    catalog = FaissCatalog(data_dir)
    assert catalog.names() == ["docs"]
    catalog.close()
