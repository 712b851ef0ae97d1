"""The engine: every operation of the service, with no gRPC, torch or faiss in sight.

It validates requests (``validation``), embeds texts through an ``Encoder`` and keeps documents
in ``Collection`` objects from a ``Catalog`` (all three are protocols in ``ports``). A collection
remembers the model fingerprint it was built with; touching its vectors under another model
(search, upsert, rerank, stored embeddings) raises ``FailedPreconditionError`` rather than
mixing vector spaces, while its documents stay readable (get, export) and deletable, so they
can be exported and upserted again under the loaded model.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from simsearch.engine import classifying, exporting, mining, sizes
from simsearch.engine import validation as check
from simsearch.engine.maxsim import align, combine, maxsim_many, token_vectors
from simsearch.engine.ports import Catalog, Collection, Encoder, Filter
from simsearch.engine.reranking import (
    DEFAULT_DEPTH,
    candidate_tokens,
    cross_encoder_rerank,
    rerank_hits,
)
from simsearch.engine.stored_queries import existing_documents, stored_queries
from simsearch.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    SimsearchError,
    UnavailableError,
    with_committed,
)
from simsearch.types import (
    Alignment,
    Calibration,
    CalibrationState,
    Classifications,
    CollectionInfo,
    CollectionSpec,
    Document,
    FloatArray,
    Hit,
    Limits,
    MaxSimOptions,
    ModelInfo,
    Pooling,
    RerankOptions,
    SearchParams,
    SentenceEmbeddings,
    StoredIds,
    TextInput,
    TokenEmbeddings,
    TokenVectors,
)

__all__ = ["Engine", "PairScores", "SearchResults"]


@dataclass(frozen=True)
class _EmbeddedBatch:
    """Documents embedded for a collection, ready to commit."""

    target: Collection
    documents: Sequence[Document]
    embeddings: FloatArray
    tokens: list[TokenVectors] | None
    truncated: tuple[int, ...]

    def commit(self) -> None:
        self.target.upsert(self.documents, self.embeddings, self.tokens)


def _finished(pending: Future[None] | None, size: int) -> int:
    """``size`` if the pending commit succeeded, else 0 (waiting for it either way)."""
    if pending is None:
        return 0
    try:
        pending.result()
    except SimsearchError:
        return 0
    return size


FLAT_INDEX = "flat"
# What to do when a single item's answer is over max_message_bytes (``sizes.check_fits``).
_SHORTER = "send shorter texts"
_SMALLER_ALIGNMENTS = "ask without similarity_matrix, or send shorter texts"
_FEWER_HITS = "ask for fewer hits (a lower k)"
# What a collection of another model refuses (``Engine._usable``).
_NOT_SEARCHED = "its vectors cannot be searched or written with this model"
_NOT_RETURNED = "its stored vectors are that model's, so they are not returned"
_NOT_CALIBRATED = "its calibration, if any, was fitted on that model's vectors"


@dataclass(frozen=True)
class SearchResults:
    """Hits per query (best first) and the indices of query texts that were truncated."""

    hits: list[list[Hit]]
    truncated: tuple[int, ...] = ()


@dataclass(frozen=True)
class PairScores:
    """Scores of a batch of pairs, each ``(n,) float32``, row i for pair i.

    cosine: of the sentence embeddings. maxsim / hybrid / alignments: when asked for.
    truncated: indices of pairs with at least one truncated text.
    """

    cosine: FloatArray
    truncated: tuple[int, ...] = ()
    maxsim: FloatArray | None = None
    hybrid: FloatArray | None = None
    alignments: list[Alignment] | None = None


class Engine:
    """Encode, compare, and manage and search collections. Thread-safe."""

    def __init__(
        self, encoder: Encoder, catalog: Catalog, limits: Limits, *, owns_encoder: bool = False
    ) -> None:
        """``owns_encoder``: :meth:`close` closes the encoder too (leave it False for an
        encoder shared with other engines)."""
        self._encoder = encoder
        self._catalog = catalog
        self.limits = limits
        self._owns_encoder = owns_encoder

    @property
    def model(self) -> ModelInfo:
        return self._encoder.info

    @property
    def store(self) -> str:
        """What keeps the collections (the catalog's kind): faiss or milvus."""
        return self._catalog.kind

    def poolings(self) -> list[Pooling]:
        return list(self._encoder.info.poolings)

    # -- vectors without a collection -----------------------------------------------------

    def encode(
        self,
        inputs: Sequence[TextInput],
        pooling: Pooling | None = None,
        *,
        normalize: bool = False,
        truncate: bool = False,
        collection: str = "",
    ) -> SentenceEmbeddings:
        """Sentence embeddings; ``pooling`` None means POOLER, or the collection's.

        ``collection``: embed as that collection does (its pooling; another one is
        InvalidArgumentError) and apply its calibration (``Collection.calibrated``): the
        vectors are then normalised whatever ``normalize`` says, as the collection's are.
        """
        check.check_text_batch("inputs", inputs, self.limits)
        target = self._usable(collection, _NOT_CALIBRATED) if collection else None
        pooling = self._pooling_for(target, pooling)
        answer = sizes.encode_response(len(inputs), self.model.hidden_size, truncate=truncate)
        sizes.check_fits(answer, self.limits, "inputs", _SHORTER)
        normalize = normalize or target is not None
        encoded = self._encoder.encode(inputs, pooling, normalize=normalize, truncate=truncate)
        if target is None:
            return encoded
        return replace(encoded, embeddings=target.calibrated(encoded.embeddings))

    def encode_tokens(
        self, inputs: Sequence[TextInput], *, truncate: bool = False
    ) -> list[TokenEmbeddings]:
        """Token embeddings per input; refused before any model work when the answer would
        not fit in one message (``sizes``)."""
        check.check_text_batch("inputs", inputs, self.limits)
        hidden = self.model.hidden_size

        def admit(tokens: Sequence[TokenEmbeddings]) -> None:
            answer = sizes.tokens_response(tokens, hidden)
            sizes.check_fits(answer, self.limits, "inputs", _SHORTER)

        return self._encoder.encode_tokens(inputs, truncate=truncate, admit=admit)

    def compare(
        self,
        pairs: Sequence[tuple[str, str]],
        pooling: Pooling | None = None,
        *,
        truncate: bool = False,
        maxsim: MaxSimOptions | None = None,
        alignments: bool = False,
        similarity_matrix: bool = False,
        collection: str = "",
    ) -> PairScores:
        """Cosine of each pair's sentence embeddings and, on request, MaxSim (a is the query),
        the hybrid score (``maxsim.alpha`` set) and the token alignments.

        Each text is embedded on its own (not as a joint pair). ``similarity_matrix`` implies
        ``alignments``, which implies ``maxsim`` (with default options when not given). An
        answer too large for one message is refused before any model work (``sizes``).
        ``pooling`` None means POOLER, or the collection's; ``collection``: the cosine is of
        vectors calibrated as that collection's (see :meth:`encode`).
        """
        check.check_text_batch("pairs", pairs, self.limits)
        target = self._usable(collection, _NOT_CALIBRATED) if collection else None
        pooling = self._pooling_for(target, pooling)
        alignments = alignments or similarity_matrix
        if alignments and maxsim is None:
            maxsim = MaxSimOptions()
        if maxsim is not None:
            check.check_maxsim(maxsim)
        scores = sizes.compare_response(len(pairs), truncate=truncate, maxsim=maxsim)
        sizes.check_fits(scores, self.limits, "pairs", _SHORTER)
        flat = [text for pair in pairs for text in pair]

        def admit(tokens: Sequence[TokenEmbeddings]) -> None:
            answer = sizes.compare_response(
                len(pairs),
                truncate=truncate,
                maxsim=maxsim,
                tokens=tokens,
                with_matrix=similarity_matrix,
            )
            sizes.check_fits(answer, self.limits, "pairs", _SMALLER_ALIGNMENTS)

        if maxsim is None:
            encoded = self._encoder.encode(flat, pooling, normalize=True, truncate=truncate)
            tokens: list[TokenEmbeddings] = []
        else:
            encoded, tokens = self._encoder.encode_with_tokens(
                flat, pooling, truncate=truncate, admit=admit if alignments else None
            )
        embeddings = encoded.embeddings
        if target is not None:
            embeddings = target.calibrated(embeddings)
        vectors = embeddings.reshape(len(pairs), 2, -1)
        cosine = np.einsum("nd,nd->n", vectors[:, 0], vectors[:, 1]).astype(np.float32)
        truncated = tuple(sorted({i // 2 for i in encoded.truncated}))
        if maxsim is None:
            return PairScores(cosine, truncated)
        rows = [token_vectors(item) for item in tokens]  # normalised once, used twice
        late = np.array(
            [maxsim_many(a, [b], maxsim)[0] for a, b in zip(rows[0::2], rows[1::2], strict=True)],
            dtype=np.float32,
        )
        hybrid = combine(cosine, late, maxsim.alpha) if maxsim.alpha is not None else None
        aligned = (
            [
                align(a, b, maxsim.tokens, with_matrix=similarity_matrix, vectors=(va, vb))
                for a, b, va, vb in zip(
                    tokens[0::2], tokens[1::2], rows[0::2], rows[1::2], strict=True
                )
            ]
            if alignments
            else None
        )
        return PairScores(cosine, truncated, late, hybrid, aligned)

    def classify(self, inputs: Sequence[TextInput], *, truncate: bool = False) -> Classifications:
        """The model's sequence-classification head on texts, or on pairs encoded jointly:
        labels, probabilities and logits (``classifying``; FailedPreconditionError without a
        head). An answer too large for one message is refused before any model work."""
        check.check_text_batch("inputs", inputs, self.limits)
        head = classifying.require_head(self.model)
        answer = sizes.classify_response(len(inputs), head.labels, truncate=truncate)
        sizes.check_fits(answer, self.limits, "inputs", _SHORTER)
        return self._encoder.classify(inputs, truncate=truncate)

    # -- collections ----------------------------------------------------------------------

    def create_collection(
        self,
        name: str,
        pooling: Pooling = Pooling.POOLER,
        index: str = "",
        *,
        store_tokens: bool = False,
        calibration: Calibration | None = None,
    ) -> CollectionInfo:
        """``calibration``: none by default (docs/calibration.md)."""
        check.check_collection_name(name)
        model = self._encoder.info
        check.check_pooling(pooling, model)
        calibration = calibration or Calibration()
        check.check_calibration(calibration, model.hidden_size)
        spec = CollectionSpec(
            name=name,
            pooling=pooling,
            index=index.strip() or FLAT_INDEX,
            dimension=model.hidden_size,
            model_name=model.name,
            model_fingerprint=model.fingerprint,
            store_tokens=store_tokens,
            calibration=calibration,
        )
        return self._describe(self._catalog.create(spec))

    def calibrate(self, name: str) -> CollectionInfo:
        """Refit the collection's calibration on its documents now and rebuild its index;
        FailedPreconditionError for calibration none, fewer than 2 documents, or a collection
        of another model. Returns its description with the new fit."""
        target = self._usable(name, _NOT_CALIBRATED)
        target.calibrate()
        return self._describe(target)

    def describe_collection(self, name: str) -> CollectionInfo:
        """The collection's spec and count; for one that could not be opened, what is known of
        it and ``unavailable`` saying why (it can still be dropped)."""
        check.check_collection_name(name)
        return self._info(name)

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection, the unavailable ones included (see describe_collection); one
        dropped while the list is made is left out."""
        infos = []
        for name in self._catalog.names():
            try:
                infos.append(self._info(name))
            except NotFoundError:
                continue
        return infos

    def drop_collection(self, name: str) -> None:
        """Delete the collection and its files, whether or not it could be opened."""
        check.check_collection_name(name)
        self._catalog.drop(name)

    def _info(self, name: str) -> CollectionInfo:
        try:
            return self._describe(self._catalog.open(name))
        except UnavailableError:
            broken = self._catalog.unavailable(name)
            if broken is None:  # the catalog is closed, not the collection unusable
                raise
            return replace(
                broken,
                compatible=self._compatible(broken.spec),
                calibration=CalibrationState(broken.spec.calibration),
            )

    def _describe(self, collection: Collection) -> CollectionInfo:
        return CollectionInfo(
            spec=collection.spec,
            count=collection.count(),
            created_at=collection.created_at,
            compatible=self._compatible(collection.spec),
            calibration=collection.calibration_state(),
        )

    def _pooling_for(self, target: Collection | None, pooling: Pooling | None) -> Pooling:
        """The pooling to embed with: as asked (POOLER when not), or the collection's, which
        another pooling contradicts (InvalidArgumentError)."""
        if target is None:
            pooling = pooling or Pooling.POOLER
        elif pooling is None:
            pooling = target.spec.pooling
        elif pooling != target.spec.pooling:
            raise InvalidArgumentError(
                f"collection {target.spec.name!r} embeds with pooling "
                f"{target.spec.pooling.value}, not {pooling.value}: leave pooling unspecified "
                "or ask for the collection's"
            )
        check.check_pooling(pooling, self.model)
        return pooling

    def _compatible(self, spec: CollectionSpec) -> bool:
        return spec.model_fingerprint == self._encoder.info.fingerprint

    def _readable(self, name: str) -> Collection:
        """The collection, whatever model built it (for reads and deletes of documents)."""
        check.check_collection_name(name)
        return self._catalog.open(name)

    def _usable(self, name: str, refused: str = _NOT_SEARCHED) -> Collection:
        """The collection, if its vectors come from the loaded model; ``refused``: what the
        message says cannot be done otherwise."""
        collection = self._readable(name)
        spec, model = collection.spec, self._encoder.info
        if spec.model_fingerprint != model.fingerprint:
            raise FailedPreconditionError(
                f"collection {name!r} was built with model {spec.model_name!r} "
                f"(fingerprint {spec.model_fingerprint}, dimension {spec.dimension}) but the "
                f"server runs {model.name!r} (fingerprint {model.fingerprint}, dimension "
                f"{model.hidden_size}): {refused}. Restart the server with the collection's "
                "model, or move its documents (texts and metadata) to this model: "
                f"`simsearch export {name} > docs.jsonl`, `simsearch drop {name}`, "
                f"`simsearch create {name}` (its pooling is {spec.pooling.value}, its index "
                f"{spec.index}; or create one under a new name), then `simsearch upsert {name} "
                "docs.jsonl`"
            )
        return collection

    # -- documents ------------------------------------------------------------------------

    def upsert(
        self, collection: str, documents: Sequence[Document], *, truncate: bool = False
    ) -> tuple[int, ...]:
        """Embed and store; returns once committed. Returns the truncated indices."""
        target = self._usable(collection)
        batch = self._embed_documents(target, documents, truncate)
        batch.commit()
        return batch.truncated

    def upsert_stream(
        self, collection: str, chunks: Iterable[tuple[Sequence[Document], bool]]
    ) -> tuple[int, tuple[int, ...]]:
        """Bulk upsert of ``(documents, truncate)`` chunks: chunk i+1 is embedded while chunk
        i commits (one commit in flight, in order). Returns the number stored and the indices
        (over the whole stream) of truncated texts.

        On an error (a bad chunk; or ``chunks`` raising, as the server's does when the stream
        goes silent or the server stops), every earlier chunk is committed and the error's
        message says how many documents that is; the failing chunk and those after it are not
        stored.
        """
        target = self._usable(collection)
        committed = 0
        truncated: list[int] = []
        pending: Future[None] | None = None
        pending_size = 0
        with ThreadPoolExecutor(1, thread_name_prefix="simsearch-commit") as committer:
            try:
                sent = 0
                for documents, truncate in chunks:
                    batch = self._embed_documents(target, documents, truncate)
                    if pending is not None:
                        pending.result()
                        committed += pending_size
                    pending, pending_size = committer.submit(batch.commit), len(documents)
                    truncated += [sent + i for i in batch.truncated]
                    sent += len(documents)
                if pending is not None:
                    pending.result()
                    committed += pending_size
            except SimsearchError as exc:
                committed += _finished(pending, pending_size)
                raise with_committed(exc, committed) from exc
        return committed, tuple(truncated)

    def _embed_documents(
        self, target: Collection, documents: Sequence[Document], truncate: bool
    ) -> _EmbeddedBatch:
        """Check and embed documents for ``target`` (token vectors too if it keeps them)."""
        check.check_documents(documents, self.limits)
        texts = [doc.text for doc in documents]
        pooling = target.spec.pooling
        if target.spec.store_tokens:
            encoded, tokens = self._encoder.encode_with_tokens(texts, pooling, truncate=truncate)
            vectors = [token_vectors(t) for t in tokens]
            return _EmbeddedBatch(target, documents, encoded.embeddings, vectors, encoded.truncated)
        encoded = self._encoder.encode(texts, pooling, normalize=True, truncate=truncate)
        return _EmbeddedBatch(target, documents, encoded.embeddings, None, encoded.truncated)

    def get(self, collection: str, ids: Sequence[str]) -> list[Document]:
        """Documents in the order asked; NotFoundError names any unknown id. Works on a
        collection of another model (texts and metadata, no vectors)."""
        target = self._readable(collection)
        check.check_ids("ids", ids, self.limits)
        return existing_documents(target, ids)

    def get_embeddings(self, collection: str, ids: Sequence[str]) -> FloatArray:
        target = self._usable(collection, _NOT_RETURNED)
        check.check_ids("ids", ids, self.limits)
        return target.get_embeddings(ids)

    def delete(self, collection: str, ids: Sequence[str]) -> int:
        """Remove documents (a collection of another model too); returns how many existed."""
        target = self._readable(collection)
        check.check_ids("ids", ids, self.limits)
        return target.delete(ids)

    def export(
        self, collection: str, after_id: str = "", chunk_size: int = 0
    ) -> Iterator[list[Document]]:
        """Every document (id, text, metadata) after ``after_id`` in id order (Unicode code
        points), in chunks of at most ``chunk_size`` (0: 256), none empty, each fitting one
        response; a collection of another model too. The request is checked here; pages are
        read as the chunks are taken (``exporting``)."""
        target = self._readable(collection)
        check.check_export(after_id, chunk_size, self.limits)
        return exporting.chunks(
            target, after_id, exporting.chunk_size(chunk_size, self.limits), self.limits
        )

    def mine_pairs(
        self,
        collection: str,
        target: str = "",
        *,
        top_m: int = 0,
        min_score: float | None = None,
        filter: Filter | None = None,
        maxsim: MaxSimOptions | None = None,
        chunk_size: int = 0,
    ) -> Iterator[mining.PairChunk]:
        """Pairs of similar documents from the stored vectors (``mining``): within
        ``collection`` (no ``target``: each unordered pair once) or from it to ``target``.

        top_m: neighbours per document, 1..max_k (0: 10). min_score: in [-1, 1], on the final
        score. maxsim: rescore each pair by MaxSim (the hybrid score with its alpha).
        chunk_size: pairs per chunk (0: 256, at most max_batch). The request is checked here,
        before any chunk; pages are read and searched as the chunks are taken.
        """
        source = self._usable(collection)
        searched = self._usable(target) if target else source
        if target:
            self._check_pairable(source, searched)
        top_m = top_m or mining.DEFAULT_TOP_M
        check.check_top_m(top_m, self.limits)
        check.check_min_score(min_score, bounded=True)
        check.check_filter(filter, self.limits)
        if maxsim is not None:
            check.check_maxsim(maxsim)
        check.check_chunk_size(chunk_size, self.limits, "pairs")
        plan = mining.MiningPlan(
            within=not target,
            top_m=top_m,
            chunk_size=exporting.chunk_size(chunk_size, self.limits),
            min_score=min_score,
            filter=filter or None,
            maxsim=maxsim,
        )
        return mining.mine(source, searched, plan, self.limits, self._encoder)

    @staticmethod
    def _check_pairable(source: Collection, target: Collection) -> None:
        """Pairing compares vectors of the same kind: the same pooling and dimension."""
        a, b = source.spec, target.spec
        if (a.pooling, a.dimension) != (b.pooling, b.dimension):
            raise FailedPreconditionError(
                f"collection {a.name!r} (pooling {a.pooling.value}, dimension {a.dimension}) "
                f"and collection {b.name!r} (pooling {b.pooling.value}, dimension "
                f"{b.dimension}) hold different kinds of vectors: pair collections of the "
                "same pooling"
            )

    def search(
        self,
        collection: str,
        queries: Sequence[str] | FloatArray | StoredIds,
        k: int,
        *,
        filter: Filter | None = None,
        min_score: float | None = None,
        truncate: bool = False,
        rerank: RerankOptions | None = None,
        params: SearchParams | None = None,
    ) -> SearchResults:
        """Top-k hits per query text (embedded with the collection's pooling), query vector,
        or stored document (``StoredIds``: its stored vector, or its text for a rerank; no hit
        is any of the ids, see ``stored_queries``).

        ``rerank``: take the top ``depth`` by sentence embedding and reorder them by MaxSim,
        or with ``cross_encoder`` by the classification head over each (query, document) pair
        (query texts only). ``min_score`` applies to the final score. Hits too large for one
        message are refused (``sizes``), before the rerank's model work where there is one.
        """
        target = self._usable(collection)
        check.check_k(k, self.limits)
        check.check_filter(filter, self.limits)
        check.check_min_score(min_score)
        check.check_search_params(params, k)
        if isinstance(queries, StoredIds):
            target, queries = stored_queries(target, queries, self.limits, texts=bool(rerank))
            truncate = True  # stored texts were cut to fit the model when upserted
        if rerank is None:
            vectors, truncated = self._query_vectors(target, queries, truncate)
            hits = target.search(vectors, k, filter, params)
        elif rerank.cross_encoder:
            hits, truncated = self._cross_encoder_search(
                target, queries, k, rerank, filter, params, truncate
            )
        else:
            depth = self._rerank_depth(rerank, k)
            check.check_rerank(rerank, depth, k, self.limits)
            if isinstance(queries, np.ndarray):
                raise InvalidArgumentError(
                    "rerank needs query texts: MaxSim compares the query's token embeddings"
                )
            check.check_text_batch("texts", queries, self.limits)
            encoded, tokens = self._encoder.encode_with_tokens(
                list(queries), target.spec.pooling, truncate=truncate
            )
            truncated = encoded.truncated
            candidates = target.search(encoded.embeddings, depth, filter, params)
            most = sizes.reranked_response(candidates, k, truncated)
            sizes.check_fits(most, self.limits, "queries", _FEWER_HITS)
            stored = candidate_tokens(self._encoder, target, candidates)
            hits = [
                rerank_hits(token_vectors(query), row, stored, rerank.maxsim)[:k]
                for query, row in zip(tokens, candidates, strict=True)
            ]
        if min_score is not None:
            hits = [[hit for hit in row if hit.score >= min_score] for row in hits]
        if rerank is None:  # (reranked hits were sized before the rerank)
            answer = sizes.search_response(hits, truncated)
            sizes.check_fits(answer, self.limits, "queries", _FEWER_HITS)
        return SearchResults(hits=hits, truncated=truncated)

    def _rerank_depth(self, rerank: RerankOptions, k: int) -> int:
        """Candidates to rerank: the request's depth, else max(k, 50) within the limit."""
        return rerank.depth or max(k, min(DEFAULT_DEPTH, self.limits.max_rerank_depth))

    def _cross_encoder_search(
        self,
        target: Collection,
        queries: Sequence[str] | FloatArray,
        k: int,
        rerank: RerankOptions,
        filter: Filter | None,
        params: SearchParams | None,
        truncate: bool,
    ) -> tuple[list[list[Hit]], tuple[int, ...]]:
        """The top ``depth`` by sentence embedding, reranked by the classification head over
        each (query, document text) pair (``reranking.cross_encoder_rerank``), cut to k."""
        depth = self._rerank_depth(rerank, k)
        check.check_rerank(rerank, depth, k, self.limits)
        if isinstance(queries, np.ndarray):
            raise InvalidArgumentError(
                "a cross-encoder rerank needs query texts: the classification head reads each "
                "(query, document) pair encoded jointly"
            )
        check.check_text_batch("texts", queries, self.limits)
        relevance = classifying.relevance_index(self.model)
        vectors, truncated = self._query_vectors(target, queries, truncate)
        candidates = target.search(vectors, depth, filter, params)
        most = sizes.reranked_response(candidates, k, truncated)
        sizes.check_fits(most, self.limits, "queries", _FEWER_HITS)
        reranked = cross_encoder_rerank(self._encoder, list(queries), candidates, relevance)
        return [row[:k] for row in reranked], truncated

    def rerank(
        self,
        collection: str,
        queries: Sequence[tuple[str, Sequence[str]]],
        maxsim: MaxSimOptions | None = None,
        *,
        truncate: bool = False,
    ) -> SearchResults:
        """Order the stored documents given by id for each query text, by MaxSim.

        ``queries``: (query text, document ids) pairs. No document is re-encoded when the
        collection stores token embeddings. Hits too large for one message are refused before
        any model work (``sizes``).
        """
        target = self._usable(collection)
        maxsim = maxsim or MaxSimOptions()
        check.check_maxsim(maxsim)
        texts = [text for text, _ in queries]
        check.check_text_batch("queries", texts, self.limits)
        for i, (_, ids) in enumerate(queries):
            check.check_rerank_ids(f"queries[{i}].ids", ids, self.limits)
        # Unknown ids fail the request before any model work.
        documents = [existing_documents(target, ids) for _, ids in queries]
        unscored = [
            [Hit(doc.id, 0.0, doc.text, doc.metadata) for doc in docs] for docs in documents
        ]
        most = sizes.reranked_response(unscored, None, range(len(queries)) if truncate else ())
        sizes.check_fits(most, self.limits, "queries", "send fewer ids")
        # Sentence scores in the collection's (calibrated) space, as its searches score.
        stored_vectors = [target.calibrated(target.get_embeddings(ids)) for _, ids in queries]
        encoded, tokens = self._encoder.encode_with_tokens(
            texts, target.spec.pooling, truncate=truncate
        )
        rows = [
            [
                Hit(id=doc.id, score=float(score), text=doc.text, metadata=doc.metadata)
                for doc, score in zip(docs, vectors @ query, strict=True)
            ]
            for docs, vectors, query in zip(
                documents, stored_vectors, target.calibrated(encoded.embeddings), strict=True
            )
        ]
        stored = candidate_tokens(self._encoder, target, rows)
        hits = [
            rerank_hits(token_vectors(query), row, stored, maxsim)
            for query, row in zip(tokens, rows, strict=True)
        ]
        return SearchResults(hits=hits, truncated=encoded.truncated)

    def _query_vectors(
        self, target: Collection, queries: Sequence[str] | FloatArray, truncate: bool
    ) -> tuple[FloatArray, tuple[int, ...]]:
        if isinstance(queries, np.ndarray):
            check.check_vectors(queries, target.spec.dimension, self.limits)
            # Norms summed in float64 (float32 squares cannot overflow there), each row divided
            # in float64 and rounded once into the float32 result: no float64 copy of the rows.
            norms = np.sqrt(np.einsum("nd,nd->n", queries, queries, dtype=np.float64))
            return np.divide(queries, norms[:, None], out=np.empty(queries.shape, np.float32)), ()
        check.check_text_batch("texts", queries, self.limits)
        encoded = self._encoder.encode(
            list(queries), target.spec.pooling, normalize=True, truncate=truncate
        )
        return encoded.embeddings, encoded.truncated

    def close(self) -> None:
        """Close every collection (each writes its checkpoint), then the encoder if owned."""
        try:
            self._catalog.close()
        finally:
            if self._owns_encoder:
                self._encoder.close()
