"""``Client``: the simsearch service as plain Python calls.

Plain Python and numpy in, the types of ``simsearch.types`` out. Conventions of every method:

- Batches: where a batch of strings is expected (texts, queries, ids), a single ``str`` is a
  batch of one, and the result is still a batch (a list, or an array with one row).
- Pooling: a ``Pooling`` or its value, "pooler", "cls" or "mean".
- Errors: a failed call raises the ``simsearch.errors`` class of its status code; bad
  arguments caught before sending raise ``InvalidArgumentError``; a server that cannot be
  reached raises ``ServerUnreachableError`` (an ``UnavailableError``).
- Arrays decoded from the server are read-only views over the response bytes: copy to edit.

A ``Client`` is thread-safe (one gRPC channel, shared).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc
import numpy as np
import numpy.typing as npt

from simsearch.client.health import wait_until_serving
from simsearch.client.mining import MinedPairs
from simsearch.client.results import CompareResult, ServerInfo, UpsertResult
from simsearch.client.rpc import (
    Pem,
    ServerUnreachableError,
    error_from_rpc,
    open_channel,
    tls_credentials,
    with_api_key,
)
from simsearch.client.shaping import (
    as_batch,
    document_batches,
    maxsim_options,
    parse_calibration,
    parse_pooling,
    search_queries,
    text_pairs,
)
from simsearch.config import DEFAULT_ADDRESS
from simsearch.errors import InvalidArgumentError, SimsearchError
from simsearch.types import (
    Calibration,
    CalibrationKind,
    Classifications,
    CollectionInfo,
    Document,
    FloatArray,
    Hit,
    MaxSimDirection,
    Pooling,
    RerankOptions,
    SearchParams,
    SentenceEmbeddings,
    TokenEmbeddings,
    TokenSelection,
)
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc as pb_grpc
from simsearch.wire import dict_to_struct, floats_from_wire
from simsearch.wire.alignments import alignment_from_wire
from simsearch.wire.calibration import calibration_to_wire
from simsearch.wire.classification import classifications_from_wire
from simsearch.wire.documents import document_from_wire, document_to_wire, hits_from_wire
from simsearch.wire.embeddings import sentence_embeddings_from_wire, token_embeddings_from_wire
from simsearch.wire.info import collection_from_wire, limits_from_wire, model_from_wire
from simsearch.wire.inputs import inputs_to_wire, pairs_to_wire, queries_to_wire
from simsearch.wire.options import (
    maxsim_to_wire,
    pooling_to_wire,
    rerank_to_wire,
    search_params_to_wire,
)

__all__ = ["Client"]

_MiB = 1024 * 1024
_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


class Client:
    """A connection to a simsearch server.

    address: ``host:port`` of the server.
    timeout: seconds each call may take before ``DeadlineExceededError``; None waits forever.
    max_message_bytes: largest request or response message accepted (the server has its own
        limit, reported by ``info().limits``).
    channel: a ready ``grpc.Channel`` to use instead of opening one to ``address`` (for custom
        options); the caller keeps ownership and closes it. The TLS options are then ignored.
    api_key: sent as ``authorization: Bearer <key>`` with every call (servers run with keys).
    tls: use TLS trusting the system's root certificates; implied by any ``tls_*`` option.
    tls_ca: PEM of the CA that signed the server's certificate.
    tls_cert, tls_key: PEM of this client's certificate and key, for mutual TLS.
        Each ``tls_*`` value is a file path (str or path) or the PEM contents (bytes).
    retries: retry a call that ends UNAVAILABLE or RESOURCE_EXHAUSTED (overloaded), up to 5
        tries in all with a growing random backoff, through gRPC's retry policy
        (``simsearch.client.rpc.RETRY_POLICY``); a request over a permanent limit and
        ``upsert_stream`` are not retried. False: each call is tried once. Ignored with
        ``channel``.
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        timeout: float | None = 60.0,
        max_message_bytes: int = 64 * _MiB,
        channel: grpc.Channel | None = None,
        api_key: str | None = None,
        tls: bool = False,
        tls_ca: Pem | None = None,
        tls_cert: Pem | None = None,
        tls_key: Pem | None = None,
        retries: bool = True,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self._owns_channel = channel is None
        if channel is None:
            if not address.strip():
                raise InvalidArgumentError("the server address is empty; give HOST:PORT")
            use_tls = tls or any(x is not None for x in (tls_ca, tls_cert, tls_key))
            credentials = tls_credentials(tls_ca, tls_cert, tls_key) if use_tls else None
            channel = open_channel(
                address, max_message_bytes, credentials=credentials, retries=retries
            )
        self._channel = channel if api_key is None else with_api_key(channel, api_key)
        self._stub = pb_grpc.SimSearchStub(self._channel)

    def __repr__(self) -> str:
        return f"Client({self.address!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def wait_until_serving(
        self, timeout: float, *, check: Callable[[], object] | None = None
    ) -> None:
        """Block until the server says it is serving (the gRPC health service's Watch stream;
        a server not accepting connections yet is waited for too).

        Raises ``DeadlineExceededError`` when it is not serving after ``timeout`` seconds.
        check: called about every half second while waiting; whatever it raises ends the wait
            (e.g. a caller that started the server checks that its process still runs).
        """
        wait_until_serving(self._channel, self.address, timeout, check)

    def close(self) -> None:
        """Close the channel (unless it was passed in). Calling it again does nothing."""
        if self._owns_channel:
            self._channel.close()

    def _call(
        self, rpc: grpc.UnaryUnaryMultiCallable[_Request, _Response], request: _Request
    ) -> _Response:
        try:
            return rpc(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, self.address) from None

    # -- server and encoding ------------------------------------------------------------

    def info(self) -> ServerInfo:
        """The loaded model, its pooling kinds, the server's limits and version."""
        return _server_info(self._call(self._stub.Info, pb.InfoRequest()))

    def encode(
        self,
        texts: str | Sequence[str] | None = None,
        *,
        pairs: Sequence[tuple[str, str]] | None = None,
        pooling: Pooling | str | None = None,
        normalize: bool = False,
        truncate: bool = False,
        collection: str = "",
    ) -> SentenceEmbeddings:
        """Sentence embeddings of ``texts``, or of ``pairs`` each encoded jointly (A, B).

        Returns ``embeddings`` ``(n, d) float32`` (row i for input i; L2-normalised when
        ``normalize``) and the indices of inputs truncated to the model's length (only with
        ``truncate``; without it, a too-long input raises InvalidArgumentError).
        pooling: None is "pooler", or the collection's.
        collection: embed as this collection does (its pooling) and apply its calibration
            once fitted: normalised ``(n, k)`` vectors, as its index holds them.
        """
        request = pb.EncodeRequest(
            pooling=_pooling_or_unset(pooling),
            normalize=normalize,
            truncate=truncate,
            collection=collection,
        )
        _fill_inputs(request, texts, pairs)
        return sentence_embeddings_from_wire(self._call(self._stub.Encode, request))

    def encode_tokens(
        self,
        texts: str | Sequence[str] | None = None,
        *,
        pairs: Sequence[tuple[str, str]] | None = None,
        truncate: bool = False,
    ) -> list[TokenEmbeddings]:
        """Token embeddings (``last_hidden_state``, padding removed), one per input, in order."""
        request = pb.EncodeTokensRequest(truncate=truncate)
        _fill_inputs(request, texts, pairs)
        response = self._call(self._stub.EncodeTokens, request)
        return [token_embeddings_from_wire(item) for item in response.items]

    def compare(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        pooling: Pooling | str | None = None,
        collection: str = "",
        truncate: bool = False,
        maxsim: bool = False,
        direction: MaxSimDirection | str | None = None,
        tokens: TokenSelection | str | None = None,
        alpha: float | None = None,
        alignments: bool = False,
        similarity_matrix: bool = False,
    ) -> CompareResult:
        """Scores of each pair (a, b): the cosine of the sentence embeddings, and on request
        MaxSim over the token embeddings, a hybrid of both and the token alignments.

        maxsim: also score by MaxSim (a is the query side); implied by any of the options
            below.
        direction: "symmetric" (mean of both ways, the default), "query_to_document" or
            "document_to_query". tokens: "all" (the default), "no_special" or "words".
        alpha: also return ``alpha * cosine + (1 - alpha) * maxsim``, alpha in [0, 1].
        alignments: the best-matching token of b for each token of a, and the reverse.
        similarity_matrix: include the full token-by-token cosine matrix in each alignment.
        pooling: None is "pooler", or the collection's. collection: the cosine is of vectors
            made and calibrated as this collection's (see :meth:`encode`).
        """
        request = pb.CompareRequest(
            collection=collection,
            pairs=pairs_to_wire(text_pairs(pairs)),
            pooling=_pooling_or_unset(pooling),
            truncate=truncate,
            alignments=alignments,
            similarity_matrix=similarity_matrix,
        )
        options = (direction, tokens, alpha)
        if maxsim or alignments or similarity_matrix or any(o is not None for o in options):
            request.maxsim.CopyFrom(maxsim_to_wire(maxsim_options(direction, tokens, alpha)))
        response = self._call(self._stub.Compare, request)
        return CompareResult(
            scores=np.asarray(response.scores, dtype=np.float32),
            truncated=tuple(response.truncated),
            maxsim=_scores_or_none(response.maxsim_scores),
            hybrid=_scores_or_none(response.hybrid_scores),
            alignments=[alignment_from_wire(a) for a in response.alignments] or None,
        )

    def classify(
        self,
        texts: str | Sequence[str] | None = None,
        *,
        pairs: Sequence[tuple[str, str]] | None = None,
        truncate: bool = False,
    ) -> Classifications:
        """The model's own sequence-classification head (e.g. NLI) on ``texts``, or on
        ``pairs`` each encoded jointly (A, B): per input its most probable label, and
        probabilities and logits ``(n, labels) float32`` in the order of
        ``info().model.head.labels``. FailedPreconditionError when the model has no head.
        ``truncate`` as in :meth:`encode`."""
        request = pb.ClassifyRequest(truncate=truncate)
        _fill_inputs(request, texts, pairs)
        return classifications_from_wire(self._call(self._stub.Classify, request))

    # -- collections ----------------------------------------------------------------------

    def create_collection(
        self,
        name: str,
        *,
        pooling: Pooling | str = Pooling.POOLER,
        index: str = "flat",
        store_tokens: bool = False,
        calibration: Calibration | CalibrationKind | str | None = None,
        calibration_dimensions: int = 0,
    ) -> CollectionInfo:
        """Create an empty collection.

        index: "flat" (exact search, the default) or a FAISS factory string such as "HNSW32".
        store_tokens: keep each document's token embeddings (float16, on disk) so MaxSim
            reranking never re-encodes documents.
        calibration: "none" (the default), "center" or "whiten" (or a ``Calibration``),
            fitted on the collection's own documents (docs/calibration.md);
            calibration_dimensions: whiten only, the leading dimensions kept (0: all).
        Raises AlreadyExistsError when the name is taken.
        """
        request = pb.CreateCollectionRequest(
            name=name,
            pooling=pooling_to_wire(parse_pooling(pooling)),
            index=index,
            store_tokens=store_tokens,
            calibration=calibration_to_wire(parse_calibration(calibration, calibration_dimensions)),
        )
        response = self._call(self._stub.CreateCollection, request)
        return collection_from_wire(response.collection)

    def calibrate(self, name: str) -> CollectionInfo:
        """Refit the collection's calibration on its documents now (at least 2) and rebuild
        its index; returns its description with the new fit (``calibration``)."""
        response = self._call(self._stub.Calibrate, pb.CalibrateRequest(name=name))
        return collection_from_wire(response.collection)

    def describe_collection(self, name: str) -> CollectionInfo:
        request = pb.DescribeCollectionRequest(name=name)
        response = self._call(self._stub.DescribeCollection, request)
        return collection_from_wire(response.collection)

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection, sorted by name."""
        response = self._call(self._stub.ListCollections, pb.ListCollectionsRequest())
        return [collection_from_wire(info) for info in response.collections]

    def drop_collection(self, name: str) -> None:
        """Delete a collection and its documents. Raises NotFoundError when it does not exist."""
        self._call(self._stub.DropCollection, pb.DropCollectionRequest(name=name))

    # -- documents ------------------------------------------------------------------------

    def upsert(
        self,
        collection: str,
        documents: Iterable[Document | Mapping[str, Any]],
        *,
        truncate: bool = False,
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> UpsertResult:
        """Insert or replace documents by id, ``batch_size`` documents per request.

        documents: ``Document`` objects or mappings with "id" and "text" (strings) and an
            optional "metadata" object; consumed lazily, so a generator streams. Ids must be
            unique within one request.
        progress: called after each request with the number of documents it stored.

        Each request is acknowledged once durably stored. If one fails, those before it stay
        stored and the error says how many; upserting again is safe (same ids replace).
        Returns the number stored and the ids of the documents whose text was truncated.
        """
        if batch_size <= 0:
            raise InvalidArgumentError(f"batch_size must be positive, got {batch_size}")
        upserted = 0
        truncated: list[str] = []
        for batch in document_batches(documents, batch_size):
            request = pb.UpsertRequest(
                collection=collection,
                documents=[document_to_wire(doc) for doc in batch],
                truncate=truncate,
            )
            response = self._upsert_batch(request, upserted)
            upserted += response.upserted
            truncated.extend(batch[i].id for i in response.truncated)
            if progress is not None:
                progress(len(batch))
        return UpsertResult(upserted, tuple(truncated))

    def upsert_stream(
        self,
        collection: str,
        documents: Iterable[Document | Mapping[str, Any]],
        *,
        truncate: bool = False,
        batch_size: int = 256,
        progress: Callable[[int], None] | None = None,
        timeout: float | None = None,
    ) -> UpsertResult:
        """Bulk upsert over one client stream of ``batch_size`` chunks: the server embeds a
        chunk while it commits the one before, so this is faster than :meth:`upsert`.

        documents: as in :meth:`upsert` (a generator streams). progress: called with each
        chunk's size once it is handed to the connection. timeout: for the whole stream (None:
        no deadline, as a bulk load may take long). The result comes once every chunk is
        committed. If a chunk fails, the chunks before it are stored and the error says how
        many documents that is; a malformed document stops the stream the same way.
        """
        if batch_size <= 0:
            raise InvalidArgumentError(f"batch_size must be positive, got {batch_size}")
        ids: list[str] = []
        stopped: list[SimsearchError] = []

        def requests() -> Iterator[pb.UpsertRequest]:
            try:
                for batch in document_batches(documents, batch_size):
                    ids.extend(doc.id for doc in batch)
                    yield pb.UpsertRequest(
                        collection=collection,
                        documents=[document_to_wire(doc) for doc in batch],
                        truncate=truncate,
                    )
                    if progress is not None:
                        progress(len(batch))
            except SimsearchError as exc:  # end the stream; report after what was stored
                stopped.append(exc)

        try:
            response = self._stub.UpsertStream(requests(), timeout=timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, self.address) from None
        if stopped:
            raise type(stopped[0])(
                f"upsert stopped after {response.upserted} documents were stored: {stopped[0]}"
            )
        return UpsertResult(response.upserted, tuple(ids[i] for i in response.truncated))

    def _upsert_batch(self, request: pb.UpsertRequest, done: int) -> pb.UpsertResponse:
        try:
            return self._call(self._stub.Upsert, request)
        except ServerUnreachableError:
            raise
        except SimsearchError as exc:
            if done == 0:
                raise
            end = done + len(request.documents)
            message = f"upsert stopped after {done} documents were stored; documents[{done}:{end}]"
            raise type(exc)(f"{message} failed: {exc}") from None

    def get(self, collection: str, ids: str | Sequence[str]) -> list[Document]:
        """Documents in the order of ``ids``. NotFoundError names any id that does not exist."""
        request = pb.GetRequest(collection=collection, ids=as_batch(ids, "ids"))
        response = self._call(self._stub.Get, request)
        return [document_from_wire(doc) for doc in response.documents]

    def get_embeddings(self, collection: str, ids: str | Sequence[str]) -> FloatArray:
        """Stored sentence embeddings of ``ids``: ``(n, d) float32``, L2-normalised, in order."""
        request = pb.GetRequest(
            collection=collection, ids=as_batch(ids, "ids"), include_embeddings=True
        )
        response = self._call(self._stub.Get, request)
        return floats_from_wire(response.embeddings, "embeddings")

    def delete(self, collection: str, ids: str | Sequence[str]) -> int:
        """Remove documents by id; unknown ids are ignored. Returns how many existed."""
        request = pb.DeleteRequest(collection=collection, ids=as_batch(ids, "ids"))
        return self._call(self._stub.Delete, request).deleted

    def export(
        self, collection: str, *, after_id: str = "", chunk_size: int = 0
    ) -> Iterator[Document]:
        """Every document of ``collection`` (id, text, metadata) in id order (Unicode code
        points), also of a collection built with another model than the server's.

        after_id: start after this id (to resume, the last id an export yielded). chunk_size:
        documents per message (0: the server's default, 256; at most its max_batch). A
        generator: the stream opens when the first document is taken, and closing the
        generator cancels it. Each stream runs under ``timeout``: one that passes it after
        documents came is resumed after the last of them, so a long export takes as many
        streams as it needs. Not a snapshot: a document written meanwhile is included only
        if its id sorts after those already yielded.
        """
        last = after_id
        while True:
            request = pb.ExportRequest(collection=collection, after_id=last, chunk_size=chunk_size)
            responses = self._stub.Export(request, timeout=self.timeout)
            resumed_from = last
            try:
                for response in responses:
                    for message in response.documents:
                        document = document_from_wire(message)
                        yield document
                        last = document.id
                return
            except grpc.RpcError as exc:
                timed_out = exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                if not (timed_out and last != resumed_from):
                    raise error_from_rpc(exc, self.address) from None
            finally:
                responses.cancel()

    def search(
        self,
        collection: str,
        queries: str | Sequence[str] | npt.NDArray[Any] | None = None,
        *,
        ids: str | Sequence[str] | None = None,
        k: int = 10,
        filter: Mapping[str, Any] | None = None,
        min_score: float | None = None,
        truncate: bool = False,
        rerank: bool = False,
        cross_encoder: bool = False,
        depth: int = 0,
        direction: MaxSimDirection | str | None = None,
        tokens: TokenSelection | str | None = None,
        alpha: float | None = None,
        ef_search: int | None = None,
        nprobe: int | None = None,
    ) -> list[list[Hit]]:
        """The ``k`` nearest documents of each query, best first: one list of hits per query.

        queries: query texts (embedded with the collection's pooling), or query vectors as a
            numpy array ``(n, d)``; a single text or a ``(d,)`` vector is one query, and the
            result is then a list holding one list of hits.
        ids: instead of queries, stored documents ("more like this"): each id's stored vector
            is one query (with a rerank, its stored text), and no hit is any of the ids.
            Unknown ids raise NotFoundError.
        filter: metadata equality filter; a hit's metadata holds every key with an equal value
            (strings, numbers, booleans, null).
        min_score: drop hits whose score is lower.
        truncate: cut query texts over the model's length instead of raising
            InvalidArgumentError (which queries were cut is not reported).
        rerank: take the top ``depth`` hits (0: max(k, 50)) by sentence embedding and reorder
            them by MaxSim over token embeddings (query texts only); ``direction``,
            ``tokens`` and ``alpha`` as in :meth:`compare`, and each of them implies rerank.
            Each hit then has ``score`` (MaxSim, or the hybrid score with alpha),
            ``sentence_score`` and ``maxsim_score``.
        cross_encoder: rerank the top ``depth`` with the model's classification head instead
            (query texts only; implies rerank): each (query, document text) pair is encoded
            jointly, and ``score`` and ``relevance_score`` are the probability of
            ``info().model.head.relevance_label``.
        ef_search, nprobe: override an HNSW / IVF collection's search parameters for this call.

        An inner list is shorter than ``k`` when fewer documents match.
        """
        request = pb.SearchRequest(
            collection=collection, k=k, filter=dict_to_struct(filter), truncate=truncate
        )
        options = (direction, tokens, alpha)
        if rerank or cross_encoder or depth or any(o is not None for o in options):
            maxsim = maxsim_options(direction, tokens, alpha)
            request.rerank.CopyFrom(rerank_to_wire(RerankOptions(depth, maxsim, cross_encoder)))
        if ef_search is not None or nprobe is not None:
            request.params.CopyFrom(search_params_to_wire(SearchParams(ef_search, nprobe)))
        queries_to_wire(search_queries(queries, ids), request)
        if min_score is not None:
            request.min_score = min_score
        response = self._call(self._stub.Search, request)
        return hits_from_wire(response.results)

    def mine_pairs(
        self,
        collection: str,
        target: str | None = None,
        *,
        top_m: int = 0,
        min_score: float | None = None,
        filter: Mapping[str, Any] | None = None,
        maxsim: bool = False,
        direction: MaxSimDirection | str | None = None,
        tokens: TokenSelection | str | None = None,
        alpha: float | None = None,
        chunk_size: int = 0,
        stream_timeout: float | None = None,
    ) -> MinedPairs:
        """Pairs of similar documents, from the stored vectors (nothing is re-encoded).

        Without ``target``, paraphrase mining: each unordered pair of ``collection`` once,
        under the first of its two documents (in id order) that has the other among its
        ``top_m``. With ``target``, pairing: each document of ``collection`` with its
        ``top_m`` best matches in ``target`` (same model and pooling).

        top_m: neighbours looked at per document (0: 10; at most the server's max_k).
        min_score: keep pairs scoring at least this, in [-1, 1].
        filter: metadata equality filter on every document taking part, both sides.
        maxsim: rescore each pair by MaxSim (``direction``, ``tokens`` and ``alpha`` as in
            :meth:`compare`, each implying maxsim); ``score`` is then the MaxSim (or hybrid)
            score, ``sentence_score`` the cosine.
        chunk_size: pairs per message (0: the server's default, 256).
        stream_timeout: seconds the whole run may take; None (the default) sets no deadline,
            as a large collection takes longer than one call's ``timeout``: each message
            carries progress instead.

        Returns a :class:`MinedPairs` (iterate it for ``ScoredPair`` objects, in order by
        ``a``, then descending score, then ``b``); the run starts when the first is taken.
        """
        request = pb.MinePairsRequest(
            collection=collection, target=target or "", top_m=top_m, chunk_size=chunk_size
        )
        if filter is not None:
            request.filter.CopyFrom(dict_to_struct(filter))
        if min_score is not None:
            request.min_score = min_score
        if maxsim or any(option is not None for option in (direction, tokens, alpha)):
            request.maxsim.CopyFrom(maxsim_to_wire(maxsim_options(direction, tokens, alpha)))
        return MinedPairs(
            lambda: self._stub.MinePairs(request, timeout=stream_timeout), self.address
        )

    def rerank(
        self,
        collection: str,
        queries: Sequence[tuple[str, Sequence[str]]],
        *,
        direction: MaxSimDirection | str | None = None,
        tokens: TokenSelection | str | None = None,
        alpha: float | None = None,
        truncate: bool = False,
    ) -> list[list[Hit]]:
        """Order stored documents by MaxSim against a query: ``queries`` holds (query text,
        document ids) pairs; returns, per query, its documents best first with every score.

        Unknown ids raise NotFoundError. No document is re-encoded when the collection stores
        token embeddings.
        """
        if isinstance(queries, (str, tuple)) and queries and isinstance(queries[0], str):
            raise InvalidArgumentError("queries is a list of (text, ids) pairs")
        request = pb.RerankRequest(
            collection=collection,
            queries=[pb.RerankQuery(text=text, ids=as_batch(ids, "ids")) for text, ids in queries],
            maxsim=maxsim_to_wire(maxsim_options(direction, tokens, alpha)),
            truncate=truncate,
        )
        response = self._call(self._stub.Rerank, request)
        return hits_from_wire(response.results)


def _fill_inputs(
    request: pb.EncodeRequest | pb.EncodeTokensRequest | pb.ClassifyRequest,
    texts: str | Sequence[str] | None,
    pairs: Sequence[tuple[str, str]] | None,
) -> None:
    if (texts is None) == (pairs is None):
        raise InvalidArgumentError("give either texts or pairs, not both and not neither")
    inputs = as_batch(texts, "texts") if texts is not None else text_pairs(pairs or ())
    wire_texts, wire_pairs = inputs_to_wire(inputs)
    request.texts.extend(wire_texts)
    request.pairs.extend(wire_pairs)


def _server_info(response: pb.InfoResponse) -> ServerInfo:
    """The server's description; pooling kinds unknown to this client are left out."""
    model = model_from_wire(response.model, response.poolings)
    return ServerInfo(
        model=model,
        poolings=list(model.poolings),
        limits=limits_from_wire(response.limits),
        version=response.version,
        store=response.store or "faiss",
    )


def _pooling_or_unset(pooling: Pooling | str | None) -> pb.Pooling.ValueType:
    """None stays unset on the wire: the server then uses the collection's pooling, if the
    request names one, else pooler."""
    return pb.POOLING_UNSPECIFIED if pooling is None else pooling_to_wire(parse_pooling(pooling))


def _scores_or_none(values: Sequence[float]) -> FloatArray | None:
    return np.asarray(values, dtype=np.float32) if values else None
