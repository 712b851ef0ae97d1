"""Pairs of similar documents from the stored vectors: paraphrase mining and pairing.

The documents of the source collection are read in id order (Unicode code points), one page
at a time (``Collection.documents_after``), with their stored sentence vectors
(``Collection.get_embeddings``: no re-encoding). Each page's vectors are one batch of queries
into the target collection (the source itself when mining) under the request's filter, and
each document keeps its ``top_m`` best neighbours, ranked by descending score, then id:

- **pairing** (a target collection): every document with its ``top_m`` matches, as found;
- **mining** (no target): the search asks for ``top_m + 1`` hits and drops the document
  itself, and each unordered pair is listed once, under the first of its two documents (in
  id order) that has the other among its ``top_m`` (see :class:`Cutoffs`).

``min_score`` then keeps the pairs scoring at least that much (it never changes which
documents are a document's ``top_m``), MaxSim rescores them when asked, and the pairs leave
in a stable order: by ``a``, then descending score, then ``b``, in chunks that each fit one
message, at least one per page so that progress (documents done of the count at the start)
moves. The filter applies to both sides: a document that does not match it is passed over,
and no neighbour fails it.

Work happens as the caller takes chunks, so a caller that stops taking them (gone, past its
deadline) stops the reads and searches. Like an export, a run is not a snapshot: a document
written meanwhile takes part if its id sorts after the page being read.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from simsearch.engine import sizes
from simsearch.engine.maxsim import combine, maxsim_many
from simsearch.engine.ports import Collection, Encoder, Filter
from simsearch.engine.reranking import candidate_tokens
from simsearch.errors import NotFoundError, quoted
from simsearch.metadata_filter import matches
from simsearch.types import Document, FloatArray, Hit, Limits, MaxSimOptions, ScoredPair

__all__ = [
    "BAND",
    "DEFAULT_TOP_M",
    "Cutoffs",
    "MiningPlan",
    "PairChunk",
    "mine",
]

DEFAULT_TOP_M = 10  # neighbours per document when the request leaves top_m at 0
# Hits held per page (documents x neighbours asked): 256 documents at top_m 99, fewer pages'
# worth of documents at a larger top_m, so a page's hits stay a few megabytes.
_PAGE_HITS = 25_600
_MAX_PAGE = 256
# Two views of one pair's score (a's search and b's) agree to far better than this: FAISS and
# Milvus score every hit they return with an exact float32 inner product (lossy kinds are
# rescored from the stored vectors), within about 1e-6 of each other for unit vectors.
BAND = 1e-4


@dataclass(frozen=True)
class MiningPlan:
    """A checked request. ``within``: mining (the target is the source); ``top_m`` >= 1;
    ``maxsim``: rescore the pairs by MaxSim (None: sentence scores only)."""

    within: bool
    top_m: int
    chunk_size: int
    min_score: float | None = None
    filter: Filter | None = None
    maxsim: MaxSimOptions | None = None

    @property
    def k(self) -> int:
        """Hits asked per document: its top_m, and itself when mining."""
        return self.top_m + 1 if self.within else self.top_m


@dataclass(frozen=True)
class PairChunk:
    """One message's worth: ``pairs`` (possibly none) in the stable order, and progress:
    ``documents_done`` of the source's ``documents_total`` (its count at the start; a run
    that meets documents written meanwhile may pass it)."""

    pairs: list[ScoredPair]
    documents_done: int
    documents_total: int


@dataclass(frozen=True, slots=True)
class _Cutoff:
    """A mined document's ``top_m`` boundary: the score of its last (m-th) neighbour, -inf
    when its search found fewer hits than asked (it then has every matching document); and
    the ids of its neighbours scoring within ``BAND`` of that score."""

    score: float
    near: tuple[str, ...]


class Cutoffs:
    """Which pairs were listed already, in memory linear in the documents, not the pairs.

    Documents are processed in id order. When document ``a`` finds neighbour ``b`` with
    ``b < a``, ``b`` was processed first, and the pair was listed under ``b`` if and only if
    ``a`` is among ``b``'s ``top_m``. Rather than ``b``'s whole list, ``b``'s cut-off is kept:

    - ``a`` is one of ``b``'s neighbours near the cut-off (kept by id): listed under ``b``;
    - else ``a`` scores below the cut-off plus ``BAND / 2`` (as ``a`` sees the pair): not in
      ``b``'s list, which holds every neighbour within ``BAND`` of the cut-off by id, and
      whose other neighbours all score above the cut-off plus ``BAND`` as ``b`` saw them
      (both views of a score agree within far less than ``BAND / 2``);
    - else ``a`` scores clearly above ``b``'s cut-off: ``b``'s search found it, so it is in
      ``b``'s list (for an exact index always; an approximate one may have missed it, and the
      pair is then not listed: a recall loss, never a duplicate).

    So no pair is listed twice, whatever the index, and with an exact index every pair is
    listed exactly once. A document with no cut-off (written after it would have been
    processed) lists nothing under itself.
    """

    def __init__(self) -> None:
        self._cutoffs: dict[str, _Cutoff] = {}

    def __len__(self) -> int:
        return len(self._cutoffs)

    def record(self, doc_id: str, neighbours: Sequence[Hit], complete: bool) -> None:
        """Remember ``doc_id``'s boundary: ``neighbours`` are its top_m in order;
        ``complete``: its search found fewer hits than asked."""
        if complete or not neighbours:
            self._cutoffs[doc_id] = _Cutoff(-math.inf, ())
            return
        score = neighbours[-1].score
        near = tuple(hit.id for hit in neighbours if hit.score <= score + BAND)
        self._cutoffs[doc_id] = _Cutoff(score, near)

    def listed_under(self, b: str, a: str, score: float) -> bool:
        """Whether the pair was listed under ``b`` (processed before ``a``): ``a`` is among
        ``b``'s top_m. ``score``: the pair's score as ``a``'s search found it."""
        cutoff = self._cutoffs.get(b)
        if cutoff is None:
            return False
        if a in cutoff.near:
            return True
        return score >= cutoff.score + BAND / 2


def page_size(plan: MiningPlan, limits: Limits) -> int:
    """Documents per page: a batch of queries the server allows, and a bounded number of
    hits."""
    return max(1, min(_MAX_PAGE, limits.max_batch, _PAGE_HITS // plan.k))


def mine(
    source: Collection,
    target: Collection,
    plan: MiningPlan,
    limits: Limits,
    encoder: Encoder,
) -> Iterator[PairChunk]:
    """The chunks of a checked request (see the module docstring); ``target`` is ``source``
    when mining. ``encoder`` re-encodes texts for MaxSim when a collection stores no token
    vectors."""
    total = source.count()
    done, after = 0, ""
    cutoffs = Cutoffs() if plan.within else None
    size = page_size(plan, limits)
    while page := source.documents_after(after, size):
        after = page[-1].id
        done += len(page)
        pairs = _page_pairs(source, target, plan, page, cutoffs, encoder)
        yield from _chunks(pairs, plan.chunk_size, limits, done, total)


def _page_pairs(
    source: Collection,
    target: Collection,
    plan: MiningPlan,
    page: list[Document],
    cutoffs: Cutoffs | None,
    encoder: Encoder,
) -> list[ScoredPair]:
    """The pairs listed under the page's documents, in the stable order."""
    taking_part = [doc for doc in page if _taking_part(doc, plan)]
    if not taking_part:
        return []
    queries, vectors = _stored(source, taking_part)
    if not queries:
        return []
    rows = target.search(vectors, plan.k, plan.filter)
    listed: list[tuple[Document, list[Hit]]] = []
    for doc, hits in zip(queries, rows, strict=True):
        neighbours = _top(doc.id, hits, plan)
        kept = neighbours
        if cutoffs is not None:
            kept = [hit for hit in neighbours if not _seen(cutoffs, doc.id, hit)]
            cutoffs.record(doc.id, neighbours, complete=len(hits) < plan.k)
        if kept:
            listed.append((doc, kept))
    pairs = _scored(source, target, listed, plan, encoder)
    if plan.min_score is not None:
        pairs = [pair for pair in pairs if pair.score >= plan.min_score]
    return sorted(pairs, key=lambda pair: (pair.a, -pair.score, pair.b))


def _taking_part(doc: Document, plan: MiningPlan) -> bool:
    return plan.filter is None or matches(doc.metadata, plan.filter)


def _stored(source: Collection, documents: list[Document]) -> tuple[list[Document], FloatArray]:
    """The documents still stored and their stored vectors ``(n, d) float32`` (a document
    deleted since its page was read is passed over)."""
    try:
        return documents, source.get_embeddings([doc.id for doc in documents])
    except NotFoundError:
        found = source.get([doc.id for doc in documents])
        still = [doc for doc in found if doc is not None]
        return still, source.get_embeddings([doc.id for doc in still])


def _top(doc_id: str, hits: list[Hit], plan: MiningPlan) -> list[Hit]:
    """A document's top_m neighbours by descending score, then id (itself left out)."""
    others = [hit for hit in hits if not (plan.within and hit.id == doc_id)]
    return sorted(others, key=lambda hit: (-hit.score, hit.id))[: plan.top_m]


def _seen(cutoffs: Cutoffs, a: str, hit: Hit) -> bool:
    """Whether the pair (a, hit) was listed under hit's document already."""
    return hit.id < a and cutoffs.listed_under(hit.id, a, hit.score)


def _scored(
    source: Collection,
    target: Collection,
    listed: list[tuple[Document, list[Hit]]],
    plan: MiningPlan,
    encoder: Encoder,
) -> list[ScoredPair]:
    """Each (document, neighbour) as a pair scored by the sentence vectors or, with
    ``plan.maxsim``, by MaxSim (the hybrid score when its alpha is set)."""
    if plan.maxsim is None:
        return [
            ScoredPair(doc.id, hit.id, hit.score, hit.score) for doc, hits in listed for hit in hits
        ]
    options = plan.maxsim
    documents = [[Hit(doc.id, 0.0, doc.text, doc.metadata) for doc, _ in listed]]
    queries = candidate_tokens(encoder, source, documents)
    neighbours = candidate_tokens(encoder, target, [hits for _, hits in listed])
    pairs = []
    for doc, hits in listed:
        cosine = np.array([hit.score for hit in hits], dtype=np.float32)
        late = maxsim_many(queries[doc.id], [neighbours[hit.id] for hit in hits], options)
        final = combine(cosine, late, options.alpha)
        pairs += [
            ScoredPair(doc.id, hit.id, float(final[i]), float(cosine[i]), float(late[i]))
            for i, hit in enumerate(hits)
        ]
    return pairs


def _chunks(
    pairs: list[ScoredPair], size: int, limits: Limits, done: int, total: int
) -> Iterator[PairChunk]:
    """``pairs`` in chunks of at most ``size`` that each fit one message; one chunk with no
    pairs when there are none (the page's progress)."""

    def too_big(pair: ScoredPair, bytes_: int) -> str:
        return (
            f"the pair ({quoted(pair.a)}, {quoted(pair.b)}) takes {bytes_:,} bytes in a "
            f"response, over the server's limit of {limits.max_message_bytes:,} "
            "(max_message_bytes): start the server with a higher limit"
        )

    limit = limits.max_message_bytes - sizes.MINING_PROGRESS
    runs = sizes.fitting_runs(pairs, sizes.scored_pair, limit, size, too_big)
    for run in runs:
        yield PairChunk(run, done, total)
    if not pairs:
        yield PairChunk([], done, total)
