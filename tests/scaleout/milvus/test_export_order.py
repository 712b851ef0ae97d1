"""Export's pages in id order across Milvus segments: documents written in shuffled batches,
each batch flushed into a sealed segment of its own, then some deleted and some replaced (new
rows in a growing segment). A page is the first matches in primary key order only when Milvus
merges the segments' answers by key (the server) or sorts them (milvus-lite, for queries
marked as iterator pages): an unmarked query on milvus-lite answers in write order and would
skip documents."""

from __future__ import annotations

import random

import numpy as np

from simsearch.index.milvus import MilvusCatalog
from simsearch.index.milvus.names import to_milvus
from simsearch.types import Document

from .helpers import make_spec, unique_name

ALPHABET = ["a", "b", "Z", "é", "中", "😀", "ß", "0", "~", "\u00ff", "\uffff", "\U00010000"]


def test_pages_are_in_key_order_across_segments(catalog: MilvusCatalog) -> None:
    collection = catalog.create(make_spec(unique_name("export")))
    rng = random.Random(7)
    ids = sorted({"".join(rng.choices(ALPHABET, k=rng.randint(1, 4))) for _ in range(400)})
    rng.shuffle(ids)
    vectors = np.full((len(ids), 8), 8**-0.5, np.float32)
    for start in range(0, len(ids), 100):
        batch = ids[start : start + 100]
        collection.upsert([Document(i, f"text {i}") for i in batch], vectors[: len(batch)])
        catalog._client.flush(to_milvus(collection.spec.name))
    collection.delete(ids[:50])
    collection.upsert([Document(i, f"new {i}") for i in ids[50:80]], vectors[:30])
    expected = sorted(ids[50:])

    for limit in (1, 16, 100):
        found: list[Document] = []
        while page := collection.documents_after(found[-1].id if found else "", limit):
            found += page
        assert [doc.id for doc in found] == expected, limit
    texts = {doc.id: doc.text for doc in collection.documents_after("", 1000)}
    assert all(texts[i] == f"new {i}" for i in ids[50:80])
