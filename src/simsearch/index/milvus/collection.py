"""MilvusCollection: one simsearch collection kept in one Milvus collection.

Consistency: every read (search, get, count, stored vectors) runs at the consistency level the
catalog was given, "Strong" by default: Milvus then serves it only after everything written
before it, by any client, is visible, which keeps the promise "acknowledged means searchable"
across front-ends. pymilvus' default "Bounded" (and "Session", which only sees the same
client's writes) does not: measured on Milvus 2.3.5, a document upserted by one client was not
returned by a Bounded query right after, and a Strong one waited for it. The price is a wait
for Milvus' next time tick (``proxy.timeTickInterval``, 200 ms by default): measured with
``bench/milvus.py`` on 2 loaded cores, a search took p50 560-590 ms Strong against 13-27 ms
Bounded at the default tick, and 80 ms against 10 ms with the tick at 20 ms; a count, 200 /
68 / 21 ms Strong at ticks of 200 / 50 / 20 ms. Deployments lower the tick (docs/scale-out.md).

Durability: upsert and delete return after Milvus acknowledged them, which Milvus does once the
rows are in its write-ahead log (the message queue); no flush is needed for them to survive or
to be visible (flushing seals segments and is Milvus' own business). A write larger than
``MAX_WRITE_BYTES`` is sent in several calls, each acknowledged before the next: Milvus has no
transactions, so a failure part-way leaves the earlier parts written (the error says so through
the engine's committed count only for whole batches; a retry of the same upsert is idempotent).

Search: Milvus searches with the pushed-down part of a filter (``expressions``; HNSW then at a
wider default ef, ``kinds.FILTERED_EF_FLOOR``, as its filtered graph walk misses matches); every
hit is re-checked with simsearch's exact rules, lossy kinds (IVF_SQ8, IVF_PQ) are rescored with the
stored vectors (``k_factor`` candidates per hit), and hits are sorted by descending score, ties
to the lower ``seq`` (the older write, as FAISS gives ties to the older label). When the
re-check dropped hits, or a tie may continue past the last candidate, the query is asked again
for 4x the candidates, up to Milvus' topk limit; past it, the candidates matching the pushed-down
expression are scanned exactly (a rare, slow path: a filter Milvus cannot evaluate that matches
few documents). So k hits come back whenever k documents match, up to index approximation.

Deletes count the ids that existed (a query first: Milvus' own count is of ids asked).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from simsearch.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from simsearch.index import records
from simsearch.index.filters import filter_sql, matches
from simsearch.index.milvus import limits
from simsearch.index.milvus.expressions import id_in, pushdown, quote_string
from simsearch.index.milvus.failures import NOT_LOADED, code_of, milvus_call
from simsearch.index.milvus.kinds import MilvusKind
from simsearch.index.milvus.schema import EMBEDDING, ID, METADATA, SEQ, TEXT, Record
from simsearch.types import (
    CalibrationState,
    CollectionSpec,
    Document,
    FloatArray,
    Hit,
    SearchParams,
    TokenVectors,
)

__all__ = ["MAX_WRITE_BYTES", "MilvusCollection"]

MAX_WRITE_BYTES = 8 * 1024 * 1024  # per upsert call: well under Milvus' 64 MiB gRPC limit
_IDS_PER_QUERY = 1000
_SCAN_BATCH = 1000
_GROWTH = 4
_ITERATOR_PAGE = "True"  # the query parameter "iterator" of pymilvus' query_iterator pages
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Candidate:
    id: str
    score: float
    seq: int
    text: str
    metadata: dict[str, Any]


class _Sequence:
    """Write order: microseconds since 2025 times 4096, strictly increasing in this process
    (71 years of int64). Across front-ends their clocks order writes."""

    _EPOCH_US = 1_735_689_600_000_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0

    def reserve(self, count: int) -> int:
        with self._lock:
            start = max((time.time_ns() // 1000 - self._EPOCH_US) << 12, self._next)
            self._next = start + count
            return start


_SEQUENCE = _Sequence()


class MilvusCollection:
    """A collection (the ``Collection`` protocol) in Milvus collection ``milvus_name``.

    The catalog makes these; one object serves one incarnation of the collection (its uid).
    Thread-safe: it holds no state but the client's, which is.
    """

    def __init__(
        self,
        client: Any,
        milvus_name: str,
        record: Record,
        kind: MilvusKind,
        *,
        consistency: str,
        timeout: float,
    ) -> None:
        self._client = client
        self._milvus_name = milvus_name
        self._record = record
        self._kind = kind
        self._consistency = consistency
        self._timeout = timeout
        self._name = record.spec.name
        self._closed = False

    @property
    def uid(self) -> str:
        return self._record.uid

    @property
    def spec(self) -> CollectionSpec:
        return self._record.spec

    @property
    def created_at(self) -> float:
        return self._record.created_at

    def count(self) -> int:
        rows = self._call(
            "count documents",
            lambda: self._client.query(
                self._milvus_name,
                filter="",
                output_fields=["count(*)"],
                consistency_level=self._consistency,
                timeout=self._timeout,
            ),
        )
        return int(rows[0]["count(*)"])

    def upsert(
        self,
        documents: Sequence[Document],
        embeddings: FloatArray,
        tokens: Sequence[TokenVectors] | None = None,
    ) -> None:
        """Insert or replace by id; returns once Milvus acknowledged every row. ``tokens`` are
        ignored (a Milvus collection never stores them)."""
        vectors = records.as_vectors(embeddings, self.spec.dimension, "embeddings")
        if len(vectors) != len(documents):
            raise InvalidArgumentError(
                f"{len(documents)} documents but {len(vectors)} embeddings: send one per document"
            )
        ids = [doc.id for doc in documents]
        if len(set(ids)) != len(ids):
            raise InvalidArgumentError("document ids repeat within one upsert")
        limits.check_documents(documents)
        if not documents:
            return
        start = _SEQUENCE.reserve(len(documents))
        rows = [
            {
                ID: doc.id,
                TEXT: doc.text,
                METADATA: doc.metadata,
                SEQ: start + i,
                EMBEDDING: vectors[i],
            }
            for i, doc in enumerate(documents)
        ]
        for chunk in _chunks(rows, self.spec.dimension):
            self._call(
                "store documents",
                lambda chunk=chunk: self._client.upsert(  # type: ignore[misc]
                    self._milvus_name, chunk, timeout=self._timeout
                ),
            )

    def delete(self, ids: Sequence[str]) -> int:
        """Remove documents; unknown ids are ignored. Returns how many existed."""
        existing = list(self._rows(ids, [ID]))
        for start in range(0, len(existing), _IDS_PER_QUERY):
            expression = id_in(ID, existing[start : start + _IDS_PER_QUERY])
            if expression is not None:
                self._call(
                    "delete documents",
                    lambda expression=expression: self._client.delete(  # type: ignore[misc]
                        self._milvus_name, filter=expression, timeout=self._timeout
                    ),
                )
        return len(existing)

    def get(self, ids: Sequence[str]) -> list[Document | None]:
        found = self._rows(ids, [ID, TEXT, METADATA])
        return [
            Document(doc_id, found[doc_id][TEXT], dict(found[doc_id][METADATA] or {}))
            if doc_id in found
            else None
            for doc_id in ids
        ]

    def documents_after(self, after_id: str, limit: int) -> list[Document]:
        """Up to ``limit`` documents whose id sorts after ``after_id``, in id order (code
        points: Milvus compares VARCHAR as UTF-8 bytes). Queries of ``id > after_id`` with a
        limit (at most Milvus' 16,384 each), marked as pages of an iterator as pymilvus'
        ``query_iterator`` marks its pages: the first ``limit`` matches in primary key order.
        Measured: Milvus 2.3.5 answers a limited query in key order marked or not (each segment
        walks its keys in order, the proxy merges by key); milvus-lite answers in write order
        unless marked, so an unmarked page would skip documents there."""
        documents: list[Document] = []
        while len(documents) < limit:
            asked = min(limit - len(documents), limits.MAX_TOPK)
            page = self._page(documents[-1].id if documents else after_id, asked)
            documents += page
            if len(page) < asked:
                break
        return documents

    def _page(self, after_id: str, limit: int) -> list[Document]:
        after = quote_string(after_id)
        if after is None:
            raise InvalidArgumentError(
                "after_id holds NUL or text that is not valid Unicode; no stored id follows it"
            )
        rows = self._call(
            "read documents in id order",
            lambda: self._client.query(
                self._milvus_name,
                filter=f"{ID} > {after}",
                output_fields=[ID, TEXT, METADATA],
                limit=limit,
                iterator=_ITERATOR_PAGE,
                consistency_level=self._consistency,
                timeout=self._timeout,
            ),
        )
        return [Document(str(row[ID]), str(row[TEXT]), dict(row[METADATA] or {})) for row in rows]

    def get_embeddings(self, ids: Sequence[str]) -> FloatArray:
        found = self._rows(ids, [ID, EMBEDDING])
        missing = [doc_id for doc_id in dict.fromkeys(ids) if doc_id not in found]
        if missing:
            raise NotFoundError(f"collection {self._name!r} has no documents with ids {missing}")
        if not ids:
            return np.zeros((0, self.spec.dimension), dtype=np.float32)
        return np.stack([np.asarray(found[doc_id][EMBEDDING], dtype=np.float32) for doc_id in ids])

    def calibration_state(self) -> CalibrationState:
        """Always none: Milvus collections have no calibration (the catalog refuses one)."""
        return CalibrationState()

    def calibrated(self, vectors: FloatArray) -> FloatArray:
        """The vectors themselves: a Milvus collection searches raw vectors."""
        return records.as_vectors(vectors, self.spec.dimension, "vectors")

    def calibrate(self) -> None:
        raise FailedPreconditionError(
            f"collection {self._name!r} has calibration none (Milvus collections always do): "
            "there is nothing to fit"
        )

    def get_token_vectors(self, ids: Sequence[str]) -> list[TokenVectors]:
        raise FailedPreconditionError(
            f"collection {self._name!r} does not store token embeddings (Milvus collections "
            "never do; MaxSim reranking encodes the candidates instead)"
        )

    def search(
        self,
        queries: FloatArray,
        k: int,
        filter: Mapping[str, Any] | None = None,
        params: SearchParams | None = None,
    ) -> list[list[Hit]]:
        """Top-k by inner product per query, sorted by descending score (ties: older first);
        see the module docstring for filters and lossy kinds."""
        queries = records.as_vectors(queries, self.spec.dimension, "queries")
        if k <= 0:
            raise InvalidArgumentError(f"k must be positive, got {k}")
        limits.check_k(k)
        limits.check_queries(len(queries))
        self._kind.check(params)
        if filter:
            filter_sql(filter)  # the FAISS backend's checks of keys and values, same errors
        wanted = dict(filter) if filter else None
        expression = pushdown(wanted) if wanted else ""
        answers: dict[int, list[Hit]] = {}
        pending = list(range(len(queries)))
        limit = min(limits.MAX_TOPK, k * self._kind.k_factor)
        while pending:
            found = self._candidates(queries[pending], limit, expression, params)
            unfinished = []
            for row, candidates in zip(pending, found, strict=True):
                hits = self._select(queries[row], candidates, k, limit, wanted)
                if hits is None:
                    unfinished.append(row)
                else:
                    answers[row] = hits
            if unfinished and limit >= limits.MAX_TOPK:
                for row in unfinished:
                    answers[row] = self._scan(queries[row], k, expression, wanted)
                break
            pending = unfinished
            limit = min(limits.MAX_TOPK, limit * _GROWTH)
        return [answers[row] for row in range(len(queries))]

    def checkpoint(self) -> None:
        """Nothing to do: Milvus persists every acknowledged write."""

    def close(self) -> None:
        self._closed = True

    # -- search -----------------------------------------------------------------------------

    def _candidates(
        self, queries: FloatArray, limit: int, expression: str, params: SearchParams | None
    ) -> list[list[tuple[float, dict[str, Any]]]]:
        fields = [ID, TEXT, METADATA, SEQ] + ([EMBEDDING] if self._kind.lossy else [])
        result = self._call(
            "search",
            lambda: self._client.search(
                self._milvus_name,
                data=[query.tolist() for query in queries],
                limit=limit,
                filter=expression,
                output_fields=fields,
                search_params=self._kind.search_params(params, limit, filtered=bool(expression)),
                anns_field=EMBEDDING,
                consistency_level=self._consistency,
                timeout=self._timeout,
            ),
        )
        return [[(float(hit["distance"]), hit["entity"]) for hit in hits] for hits in result]

    def _select(
        self,
        query: FloatArray,
        found: list[tuple[float, dict[str, Any]]],
        k: int,
        limit: int,
        wanted: dict[str, Any] | None,
    ) -> list[Hit] | None:
        """The k best of one query's candidates, or None when more candidates are needed."""
        kept = [
            _Candidate(
                str(row[ID]),
                float(np.dot(np.asarray(row[EMBEDDING], np.float32), query))
                if self._kind.lossy
                else score,
                int(row[SEQ]),
                str(row[TEXT]),
                dict(row[METADATA] or {}),
            )
            for score, row in found
            if wanted is None or matches(row[METADATA] or {}, wanted)
        ]
        kept.sort(key=lambda candidate: (-candidate.score, candidate.seq))
        more_exist = len(found) >= limit
        if more_exist and len(kept) < k:
            return None  # the re-check dropped hits: more candidates, or a scan past topk
        tie = not self._kind.lossy and kept[k - 1].score <= found[-1][0] if more_exist else False
        if tie and limit < limits.MAX_TOPK:
            return None  # a tie at the k-th hit may go on past the last candidate
        return [_hit(candidate) for candidate in kept[:k]]

    def _scan(
        self, query: FloatArray, k: int, expression: str, wanted: dict[str, Any] | None
    ) -> list[Hit]:
        """Exact top-k over every document the expression keeps, re-checked (the slow path)."""
        best: list[tuple[float, int, str]] = []

        def scan() -> None:
            iterator = self._client.query_iterator(
                self._milvus_name,
                batch_size=_SCAN_BATCH,
                filter=expression,
                output_fields=[ID, METADATA, SEQ, EMBEDDING],
                consistency_level=self._consistency,
                timeout=self._timeout,
            )
            try:
                while rows := iterator.next():
                    kept = [row for row in rows if matches(row[METADATA] or {}, wanted or {})]
                    if not kept:
                        continue
                    vectors = np.asarray([row[EMBEDDING] for row in kept], dtype=np.float32)
                    scores = vectors @ query
                    best.extend(
                        (float(score), int(row[SEQ]), str(row[ID]))
                        for score, row in zip(scores, kept, strict=True)
                    )
                    best.sort(key=lambda item: (-item[0], item[1]))
                    del best[k:]
            finally:
                iterator.close()

        self._call("scan documents for a filter", scan)
        documents = self.get([doc_id for _, _, doc_id in best])
        return [
            Hit(id=doc.id, score=score, text=doc.text, metadata=doc.metadata)
            for (score, _, _), doc in zip(best, documents, strict=True)
            if doc is not None
        ]

    # -- reads and writes -------------------------------------------------------------------

    def _rows(self, ids: Sequence[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _IDS_PER_QUERY):
            expression = id_in(ID, unique[start : start + _IDS_PER_QUERY])
            if expression is None:
                continue
            rows = self._call(
                "read documents",
                lambda expression=expression: self._client.query(  # type: ignore[misc]
                    self._milvus_name,
                    filter=expression,
                    output_fields=fields,
                    consistency_level=self._consistency,
                    timeout=self._timeout,
                ),
            )
            found.update((str(row[ID]), row) for row in rows)
        return found

    def _call(self, action: str, call: Callable[[], _T]) -> _T:
        """``call`` with Milvus errors translated; a collection Milvus has not loaded (after a
        restart of Milvus, or a release by someone else) is loaded and the call retried once."""
        self._check_open()
        with milvus_call(f"{action} in collection {self._name!r}", self._name):
            try:
                return call()
            except Exception as exc:
                if code_of(exc) != NOT_LOADED:
                    raise
            self._client.load_collection(self._milvus_name, timeout=self._timeout)
            return call()

    def _check_open(self) -> None:
        if self._closed:
            raise UnavailableError(f"collection {self._name!r} is closed")


def _hit(candidate: _Candidate) -> Hit:
    return Hit(
        id=candidate.id, score=candidate.score, text=candidate.text, metadata=candidate.metadata
    )


def _chunks(rows: list[dict[str, Any]], dimension: int) -> list[list[dict[str, Any]]]:
    """Rows in groups of at most ``MAX_WRITE_BYTES`` (estimated; at least one row each)."""
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for row in rows:
        row_bytes = (
            len(row[ID].encode()) + len(row[TEXT].encode()) + 4 * dimension + 64
        ) + limits.metadata_bytes("metadata", row[METADATA])
        if chunks[-1] and size + row_bytes > MAX_WRITE_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += row_bytes
    return chunks
