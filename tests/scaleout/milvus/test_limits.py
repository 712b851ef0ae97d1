"""Milvus' limits are checked before anything is written, with clear InvalidArgumentErrors."""

from __future__ import annotations

import numpy as np
import pytest

from scaleout.milvus.helpers import make_spec, unique_name
from simsearch.errors import FailedPreconditionError, InvalidArgumentError
from simsearch.index.milvus import MilvusCatalog
from simsearch.types import Document


def _one(doc: Document) -> tuple[list[Document], np.ndarray]:
    return [Document("ok", "fine"), doc], np.eye(2, 8, dtype=np.float32)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (Document("big", "x" * 65_536), "65,536 bytes of UTF-8; a Milvus VARCHAR"),
        (Document("big", "é" * 32_768), "65,536 bytes"),
        (Document("big", "t", {"k": "x" * 65_530}), "bytes as JSON; a Milvus JSON field"),
        (Document("i" * 2049, "t"), "ids of at most 2,048"),
        (Document("bad", "t\ud800"), "not valid Unicode"),
        (Document("bad", "t", {"k": float("nan")}), "finite numbers"),
    ],
)
def test_documents_over_milvus_limits_are_refused_before_any_write(
    lite_uri: str, doc: Document, message: str
) -> None:
    catalog = MilvusCatalog(lite_uri)
    collection = catalog.create(make_spec(unique_name("limits")))
    with pytest.raises(InvalidArgumentError, match=message):
        collection.upsert(*_one(doc))
    assert collection.count() == 0  # the valid document before it was not written either
    catalog.close()


def test_texts_at_the_limit_are_stored(lite_uri: str) -> None:
    catalog = MilvusCatalog(lite_uri)
    collection = catalog.create(make_spec(unique_name("limits")))
    collection.upsert(
        [Document("max", "x" * 65_535, {"k": "y" * 60_000})], np.eye(1, 8, dtype=np.float32)
    )
    assert collection.get(["max"])[0] == Document("max", "x" * 65_535, {"k": "y" * 60_000})
    catalog.close()


def test_k_and_dimension_limits(lite_uri: str) -> None:
    catalog = MilvusCatalog(lite_uri)
    with pytest.raises(InvalidArgumentError, match=r"1\.\.32768"):
        catalog.create(make_spec(unique_name("dim"), dimension=40_000))
    collection = catalog.create(make_spec(unique_name("k")))
    with pytest.raises(InvalidArgumentError, match="at most 16,384 hits"):
        collection.search(np.eye(1, 8, dtype=np.float32), 16_385)
    catalog.close()


def test_store_tokens_is_refused_with_the_reason(lite_uri: str) -> None:
    catalog = MilvusCatalog(lite_uri)
    with pytest.raises(FailedPreconditionError, match="store_tokens is not available on Milvus"):
        catalog.create(make_spec(unique_name("tokens"), store_tokens=True))
    assert catalog.names() == []
    collection = catalog.create(make_spec(unique_name("tokens")))
    with pytest.raises(FailedPreconditionError, match="does not store token embeddings"):
        collection.get_token_vectors(["a"])
    catalog.close()


def test_unsupported_index_is_invalid_and_creates_nothing(lite_uri: str) -> None:
    catalog = MilvusCatalog(lite_uri)
    with pytest.raises(InvalidArgumentError, match="milvus-lite"):
        catalog.create(make_spec(unique_name("pq"), index="IVF16,PQ4"))
    assert catalog.names() == []
    catalog.close()


def test_a_lite_path_must_be_a_db_file(tmp_path: object) -> None:
    with pytest.raises(InvalidArgumentError, match=r"\.db"):
        MilvusCatalog("/tmp/somewhere")
