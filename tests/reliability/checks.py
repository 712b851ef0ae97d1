"""What a recovered server must show, checked through the public client and the store file.

``Expected`` is the tests' own record of a collection: id -> (text, metadata) for every write the
server acknowledged. :func:`verify_collection` compares a running server with it:

- the store file (opened read-only) holds exactly the expected ids, each once;
- Describe's count (the FAISS index's live count) equals the store's row count;
- Get returns each id's text and metadata, and its stored vector equals what the server's
  encoder makes of the text now (a fresh process: tolerance 1e-5);
- a search with k = count returns every id exactly once (exact indexes), or distinct known ids
  with correct scores (approximate ones);
- fixed query texts give the exact brute-force top-k over the stored vectors (exact indexes).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simsearch.client import Client, Hit

WORDS = "cat dog sits runs park music river city sun rain apple chair".split()  # noqa: SIM905


def sample_documents(first: int, count: int) -> list[dict[str, Any]]:
    """Documents d<first>.. with short texts from ``WORDS`` and metadata ``{"i": i}``."""
    return [
        {"id": f"d{i}", "text": f"{WORDS[i % 12]} {WORDS[(i * 7) % 12]} {i}", "metadata": {"i": i}}
        for i in range(first, first + count)
    ]


BATCH = 200
ATOL = 1e-5
QUERIES = (
    "the cat sits on the mat",
    "people walk in the park",
    "我喜欢学习语言模型",
    "quick brown fox jumps over the lazy dog",
)


@dataclass
class Expected:
    """The acknowledged state of one collection: id -> (text, metadata)."""

    name: str
    exact: bool
    docs: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


def store_path(data_dir: Path, name: str) -> Path:
    return data_dir / name / "store.sqlite3"


def store_ids(path: Path) -> list[str]:
    """Every id in the store, read through a read-only connection (works beside the server)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        return [row[0] for row in db.execute("SELECT id FROM docs")]
    finally:
        db.close()


def encode(client: Client, texts: Sequence[str]) -> np.ndarray:
    """The server's normalised pooler embeddings of ``texts``, ``(n, d) float32``."""
    parts = [
        client.encode(list(texts[i : i + BATCH]), pooling="pooler", normalize=True).embeddings
        for i in range(0, len(texts), BATCH)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def stored(client: Client, name: str, ids: Sequence[str]) -> tuple[list[Any], np.ndarray]:
    """Documents and stored embeddings of ``ids``, in order, fetched in batches."""
    docs: list[Any] = []
    vectors: list[np.ndarray] = []
    for i in range(0, len(ids), BATCH):
        batch = list(ids[i : i + BATCH])
        docs += client.get(name, batch)
        vectors.append(np.array(client.get_embeddings(name, batch)))
    return docs, (np.concatenate(vectors) if vectors else np.zeros((0, 0), np.float32))


def brute_force(
    queries: np.ndarray, ids: Sequence[str], vectors: np.ndarray, k: int
) -> list[list[tuple[str, float]]]:
    scores = queries @ vectors.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [[(ids[j], float(row[j])) for j in top] for row, top in zip(scores, order, strict=True)]


def assert_same_hits(hits: list[list[Hit]], expected: list[list[tuple[str, float]]]) -> None:
    """Scores equal within ATOL; ids equal except between expected scores that tie."""
    for got, want in zip(hits, expected, strict=True):
        assert len(got) == len(want), ([h.id for h in got], want)
        np.testing.assert_allclose([h.score for h in got], [s for _, s in want], atol=ATOL)
        for hit, (doc_id, score) in zip(got, want, strict=True):
            tied = sum(abs(other - score) <= ATOL for _, other in want) > 1
            assert hit.id == doc_id or tied, (hit.id, doc_id, score)


def verify_collection(client: Client, data_dir: Path, expected: Expected) -> int:
    """Check everything in the module docstring; returns the number of ids checked."""
    name, ids = expected.name, sorted(expected.docs)
    on_disk = store_ids(store_path(data_dir, name))
    assert len(on_disk) == len(set(on_disk)), "an id is stored twice"
    assert set(on_disk) == set(ids), (
        f"{name}: missing {sorted(set(ids) - set(on_disk))[:5]}, "
        f"unexpected {sorted(set(on_disk) - set(ids))[:5]}"
    )
    assert client.describe_collection(name).count == len(ids) == len(on_disk)
    if not ids:
        return 0
    docs, vectors = stored(client, name, ids)
    for doc, doc_id in zip(docs, ids, strict=True):
        assert (doc.id, doc.text, doc.metadata) == (doc_id, *expected.docs[doc_id])
    np.testing.assert_allclose(vectors, encode(client, [d.text for d in docs]), atol=ATOL)
    _check_full_scan(client, expected, ids, vectors)
    _check_queries(client, expected, ids, vectors)
    return len(ids)


def fixed_results(client: Client, name: str, k: int = 10) -> list[list[tuple[str, float]]]:
    """The hits of the fixed queries, as (id, score) lists."""
    hits = client.search(name, list(QUERIES), k=k)
    return [[(hit.id, hit.score) for hit in row] for row in hits]


def _check_full_scan(
    client: Client, expected: Expected, ids: list[str], vectors: np.ndarray
) -> None:
    k = min(len(ids), 1000)
    query = vectors[:1]
    hits = client.search(expected.name, query, k=k)[0]
    found = [hit.id for hit in hits]
    assert len(found) == len(set(found)), "a search returned an id twice"
    assert set(found) <= set(ids), f"unknown ids served: {sorted(set(found) - set(ids))[:5]}"
    if expected.exact:
        assert len(found) == k, f"a search for all {k} documents returned {len(found)}"
    row = {doc_id: i for i, doc_id in enumerate(ids)}
    scores = [float(vectors[row[hit.id]] @ query[0]) for hit in hits]
    np.testing.assert_allclose([hit.score for hit in hits], scores, atol=ATOL)


def _check_queries(client: Client, expected: Expected, ids: list[str], vectors: np.ndarray) -> None:
    queries = encode(client, list(QUERIES))
    hits = client.search(expected.name, list(QUERIES), k=10)
    if expected.exact:
        assert_same_hits(hits, brute_force(queries, ids, vectors, 10))
        return
    row = {doc_id: i for i, doc_id in enumerate(ids)}
    for query, got in zip(queries, hits, strict=True):
        assert len({hit.id for hit in got}) == len(got)
        want = [float(vectors[row[hit.id]] @ query) for hit in got]
        np.testing.assert_allclose([hit.score for hit in got], want, atol=ATOL)
