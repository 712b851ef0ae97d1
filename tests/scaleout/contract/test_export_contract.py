"""The contract of Export: pages of documents in id order (``Collection.documents_after``),
and the engine's export and document reads on a collection built with another model."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from simsearch.engine import Engine
from simsearch.engine.ports import Catalog, Collection
from simsearch.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    LimitExceededError,
    NotFoundError,
)
from simsearch.types import (
    Document,
    Limits,
    ModelInfo,
    Pooling,
    SentenceEmbeddings,
    TextInput,
    TokenEmbeddings,
)

from .data import DIMENSION, documents, unit_vectors

# Code point order differs from UTF-16 order (U+FFFF before U+10000 here, after it in UTF-16)
# and from case-insensitive or locale order ("Z" < "a" < "é").
IDS = ["a", "Z", "é", "中", "😀", "\uffff", "\U00010000", "ab", "aa", "a b", "0", "~", "ß", "b"]


def _stored(collection: Collection, ids: Sequence[str]) -> list[Document]:
    docs = [Document(i, f"text of {i}", {"id": i, "n": n}) for n, i in enumerate(ids)]
    collection.upsert(docs, unit_vectors(len(docs), seed=3))
    return sorted(docs, key=lambda doc: doc.id)


def _all_pages(collection: Collection, limit: int, after_id: str = "") -> list[Document]:
    found: list[Document] = []
    while page := collection.documents_after(after_id, limit):
        assert len(page) <= limit
        found += page
        after_id = page[-1].id
    return found


def test_pages_come_in_code_point_order(empty_collection: Collection) -> None:
    expected = _stored(empty_collection, IDS)
    assert [doc.id for doc in expected] == sorted(IDS)  # Python compares code points
    assert empty_collection.documents_after("", 100) == expected
    for limit in (1, 3, 5):
        assert _all_pages(empty_collection, limit) == expected
    assert empty_collection.documents_after("", 3) == expected[:3]  # full pages until the end


def test_a_page_starts_after_any_id_stored_or_not(empty_collection: Collection) -> None:
    expected = _stored(empty_collection, IDS)
    ids = [doc.id for doc in expected]
    for after in ["a", "aa", "a0", "é", "😀", "\U0010ffff", " ", "Zz"]:
        want = [doc for doc in expected if doc.id > after]
        assert empty_collection.documents_after(after, 100) == want, after
        assert _all_pages(empty_collection, 2, after) == want, after
    assert empty_collection.documents_after(ids[-1], 5) == []


def test_pages_follow_replacements_and_deletes(empty_collection: Collection) -> None:
    """Replaced and deleted documents, over several writes (Milvus: several segments)."""
    ids = [f"doc-{i:03d}" for i in range(60)]
    for start in range(0, 60, 20):
        _stored(empty_collection, ids[start : start + 20][::-1])
    empty_collection.delete(ids[10:20])
    empty_collection.upsert([Document("doc-005", "replaced", {"v": 2})], unit_vectors(1, seed=9))
    found = _all_pages(empty_collection, 7)
    assert [doc.id for doc in found] == ids[:10] + ids[20:]
    assert found[5] == Document("doc-005", "replaced", {"v": 2})


def test_an_empty_collection_has_no_page(empty_collection: Collection) -> None:
    assert empty_collection.documents_after("", 10) == []
    assert empty_collection.documents_after("z", 1) == []


# -- the engine over the store ---------------------------------------------------------------


class _OtherModel:
    """An encoder that is another model than the collections' (``data.spec``'s fingerprint);
    the engine refuses vector work before encoding, so nothing is ever encoded."""

    info = ModelInfo(
        name="another-model", fingerprint="sha256:another", hidden_size=DIMENSION,
        max_length=16, vocab_size=100, poolings=(Pooling.MEAN,),
    )  # fmt: skip

    def encode(
        self, inputs: Sequence[TextInput], pooling: Pooling, **_: object
    ) -> SentenceEmbeddings:
        raise AssertionError("a collection of another model was encoded for")

    def encode_tokens(self, inputs: Sequence[TextInput], **_: object) -> list[TokenEmbeddings]:
        raise AssertionError("a collection of another model was encoded for")

    def encode_with_tokens(
        self, inputs: Sequence[TextInput], pooling: Pooling, **_: object
    ) -> tuple[SentenceEmbeddings, list[TokenEmbeddings]]:
        raise AssertionError("a collection of another model was encoded for")

    def close(self) -> None:
        pass


@pytest.fixture
def engine(catalog: Catalog) -> Engine:
    return Engine(_OtherModel(), catalog, Limits(max_batch=8, max_message_bytes=4096))


def test_export_chunks_every_document_in_id_order(
    engine: Engine, empty_collection: Collection
) -> None:
    name = empty_collection.spec.name
    expected = _stored(empty_collection, IDS)
    chunks = list(engine.export(name, chunk_size=3))
    assert [len(chunk) for chunk in chunks] == [3, 3, 3, 3, 2]
    assert [doc for chunk in chunks for doc in chunk] == expected
    assert [doc for chunk in engine.export(name) for doc in chunk] == expected  # 0: max_batch
    resumed = [doc for chunk in engine.export(name, expected[4].id, 5) for doc in chunk]
    assert resumed == expected[5:]
    assert list(engine.export(name, expected[-1].id)) == []  # no empty chunk, ever


def test_export_cuts_chunks_to_fit_one_message(
    engine: Engine, empty_collection: Collection
) -> None:
    """max_message_bytes 4096: three texts of 1,500 characters fit two to a message."""
    docs = [Document(f"long-{i}", "x" * 1500) for i in range(3)]
    empty_collection.upsert(docs, unit_vectors(3, seed=1))
    chunks = list(engine.export(empty_collection.spec.name, chunk_size=8))
    assert [[doc.id for doc in chunk] for chunk in chunks] == [["long-0", "long-1"], ["long-2"]]


def test_export_refuses_bad_requests(engine: Engine, empty_collection: Collection) -> None:
    name = empty_collection.spec.name
    with pytest.raises(NotFoundError):
        engine.export(f"{name}-missing")
    with pytest.raises(InvalidArgumentError, match="chunk_size"):
        engine.export(name, chunk_size=-1)
    with pytest.raises(LimitExceededError, match="at most 8"):
        engine.export(name, chunk_size=9)
    with pytest.raises(InvalidArgumentError, match="U\\+0000"):
        engine.export(name, "a\0")
    with pytest.raises(InvalidArgumentError, match="after_id"):
        engine.export(name, "x" * 513)


def test_a_collection_of_another_model_is_readable_not_searchable(
    engine: Engine, empty_collection: Collection
) -> None:
    name = empty_collection.spec.name
    expected = _stored(empty_collection, ["a", "b", "c"])
    assert not engine.describe_collection(name).compatible
    assert engine.get(name, ["c", "a"]) == [expected[2], expected[0]]
    assert [doc for chunk in engine.export(name) for doc in chunk] == expected
    assert engine.delete(name, ["b", "missing"]) == 1
    assert [doc.id for chunk in engine.export(name) for doc in chunk] == ["a", "c"]
    refused: dict[str, Callable[[], object]] = {
        "search": lambda: engine.search(name, ["a"], 1),
        "vector search": lambda: engine.search(name, np.ones((1, DIMENSION), np.float32), 1),
        "upsert": lambda: engine.upsert(name, documents(["d"])),
        "stream": lambda: engine.upsert_stream(name, [(documents(["d"]), False)]),
        "rerank": lambda: engine.rerank(name, [("a", ["a"])]),
        "embeddings": lambda: engine.get_embeddings(name, ["a"]),
    }
    for what, call in refused.items():
        with pytest.raises(FailedPreconditionError) as caught:
            call()
        message = str(caught.value)
        assert "another-model" in message and "tiny-bert/ünïcode 模型" in message, what
        assert f"simsearch export {name} > docs.jsonl" in message, what
        assert "upsert the documents again" not in message, what
    assert "vectors are that model's" in message  # get_embeddings: says why, not "searched"
    assert empty_collection.count() == 2  # nothing written by the refused upserts
