"""Helpers for the ``test_index_*`` tests: seeded data, specs and a brute-force reference.

Imported as ``unit.index_fixtures`` (``tests/`` is on ``sys.path``) and, by the crash child
script, as ``index_fixtures``. No torch, no model: vectors are seeded, L2-normalised normals.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from simsearch.index import FaissCatalog, FaissCollection
from simsearch.types import CollectionSpec, Document, FloatArray, Hit, Pooling

DIMENSION = 32


def unit_vectors(n: int, seed: int, dimension: int = DIMENSION) -> FloatArray:
    """``(n, d) float32`` rows of a seeded normal distribution, L2-normalised."""
    vectors = np.random.default_rng(seed).standard_normal((n, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def spec(
    name: str = "docs",
    index: str = "flat",
    dimension: int = DIMENSION,
    *,
    store_tokens: bool = False,
) -> CollectionSpec:
    return CollectionSpec(
        name=name,
        pooling=Pooling.POOLER,
        index=index,
        dimension=dimension,
        model_name="fake",
        model_fingerprint="fake-fingerprint",
        store_tokens=store_tokens,
    )


def metadata_for(i: int) -> dict[str, Any]:
    return {"group": i % 3, "parity": "even" if i % 2 == 0 else "odd", "i": i}


@dataclass
class Corpus:
    """What a collection should hold: id -> (vector, metadata), mirrored by every write."""

    vectors: dict[str, FloatArray]
    metadata: dict[str, dict[str, Any]]

    @classmethod
    def empty(cls) -> Corpus:
        return cls({}, {})

    def upsert(self, collection: FaissCollection, ids: Sequence[str], vectors: FloatArray) -> None:
        docs = [Document(doc_id, f"text of {doc_id}", self._meta(doc_id)) for doc_id in ids]
        collection.upsert(docs, vectors)
        for doc_id, vector, doc in zip(ids, vectors, docs, strict=True):
            self.vectors[doc_id], self.metadata[doc_id] = vector, doc.metadata

    def delete(self, collection: FaissCollection, ids: Sequence[str]) -> int:
        for doc_id in ids:
            self.vectors.pop(doc_id, None)
            self.metadata.pop(doc_id, None)
        return collection.delete(ids)

    def expected(
        self, queries: FloatArray, k: int, filter: Mapping[str, Any] | None = None
    ) -> list[list[tuple[str, float]]]:
        ids = [i for i in sorted(self.vectors) if _matches(self.metadata[i], filter or {})]
        return brute_force(queries, ids, [self.vectors[i] for i in ids], k)

    @staticmethod
    def _meta(doc_id: str) -> dict[str, Any]:
        return metadata_for(int(doc_id.split("-")[-1]))


def brute_force(
    queries: FloatArray, ids: Sequence[str], vectors: Sequence[FloatArray] | FloatArray, k: int
) -> list[list[tuple[str, float]]]:
    """Exact top-k by inner product with numpy: per query ``[(id, score)]``, best first."""
    if not ids:
        return [[] for _ in queries]
    matrix: FloatArray = np.stack(list(vectors)).astype(np.float32)
    scores = queries @ matrix.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [[(ids[j], float(row[j])) for j in top] for row, top in zip(scores, order, strict=True)]


def assert_same_hits(
    hits: list[list[Hit]], expected: list[list[tuple[str, float]]], atol: float = 1e-5
) -> None:
    """Scores equal to ``atol``; ids equal except where two expected scores tie."""
    assert len(hits) == len(expected)
    for got, want in zip(hits, expected, strict=True):
        assert len(got) == len(want), ([h.id for h in got], want)
        np.testing.assert_allclose([h.score for h in got], [s for _, s in want], atol=atol)
        scores = [s for _, s in want]
        for position, (hit, (doc_id, score)) in enumerate(zip(got, want, strict=True)):
            tied = sum(abs(other - score) <= atol for other in scores) > 1
            assert hit.id == doc_id or tied, (position, hit.id, doc_id)


def recall(hits: list[list[Hit]], expected: list[list[tuple[str, float]]]) -> float:
    pairs = zip(hits, expected, strict=True)
    found = sum(len({h.id for h in got} & {i for i, _ in want}) for got, want in pairs)
    return found / max(sum(len(want) for want in expected), 1)


def _matches(metadata: Mapping[str, Any], filter: Mapping[str, Any]) -> bool:
    return all(key in metadata and _equal(metadata[key], value) for key, value in filter.items())


def _equal(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, bool) or isinstance(wanted, bool) or stored is None or wanted is None:
        return type(stored) is type(wanted) and stored == wanted
    return bool(stored == wanted)


# -- the kill -9 child: a deterministic sequence of writes ------------------------------------


@dataclass(frozen=True)
class Operation:
    """One write of the crash test: upsert ``ids`` with seeded vectors, or delete ``ids``."""

    number: int
    kind: str  # "upsert" | "delete"
    ids: tuple[str, ...]

    def vectors(self) -> FloatArray:
        return unit_vectors(len(self.ids), seed=10_000 + self.number)


def operations(seed: int) -> Iterator[Operation]:
    """An endless seeded sequence of upserts (new ids and replacements) and deletes."""
    rng = np.random.default_rng(seed)
    next_id = 0
    for number in range(10**9):
        if number % 5 == 4 and next_id:
            ids = {f"doc-{j}" for j in rng.integers(0, next_id, size=4)}
            yield Operation(number, "delete", tuple(sorted(ids)))
            continue
        fresh = [f"doc-{next_id + j}" for j in range(8)]
        next_id += 8
        again = {f"doc-{j}" for j in rng.integers(0, next_id, size=3)} - set(fresh)
        yield Operation(number, "upsert", (*fresh, *sorted(again)))


def state_after(seed: int, count: int) -> dict[str, int]:
    """id -> number of the upsert that wrote its current vector, after ``count`` operations."""
    state: dict[str, int] = {}
    for operation in islice(operations(seed), count):
        for doc_id in operation.ids:
            if operation.kind == "upsert":
                state[doc_id] = operation.number
            else:
                state.pop(doc_id, None)
    return state


def run_child(data_dir: Path, seed: int) -> None:
    """Apply :func:`operations` forever, printing ``ack <n>`` after operation n returned."""
    catalog = FaissCatalog(data_dir, checkpoint_every=40)
    collection = catalog.open("crash")
    print("ready", flush=True)
    for operation in operations(seed):
        if operation.kind == "upsert":
            docs = [Document(doc_id, f"text of {doc_id}") for doc_id in operation.ids]
            collection.upsert(docs, operation.vectors())
        else:
            collection.delete(list(operation.ids))
        print(f"ack {operation.number}", flush=True)
