# ruff: noqa: N802
"""The SimSearch servicer: each RPC converts the request, calls the engine, converts back.

Method names are the RPC names (N802 off for this file)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

import grpc

from simsearch import __version__
from simsearch.engine import Engine
from simsearch.server.chunks import first_chunk, upsert_chunks
from simsearch.server.rpc_decorators import rpc, rpc_stream
from simsearch.server.streams import Streams
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc
from simsearch.wire import array_to_tensor, struct_to_dict
from simsearch.wire.alignments import alignment_to_wire
from simsearch.wire.calibration import calibration_from_wire
from simsearch.wire.classification import classifications_to_wire
from simsearch.wire.documents import document_from_wire, document_to_wire, hits_to_wire
from simsearch.wire.embeddings import sentence_embeddings_to_wire, token_embeddings_to_wire
from simsearch.wire.info import collection_to_wire, limits_to_wire, model_to_wire, poolings_to_wire
from simsearch.wire.inputs import inputs_from_wire, pairs_from_wire, queries_from_wire
from simsearch.wire.mining import mined_to_wire
from simsearch.wire.options import (
    maxsim_from_wire,
    pooling_from_wire,
    pooling_or_none_from_wire,
    rerank_from_wire,
    search_params_from_wire,
)

__all__ = ["SimSearchServicer"]

Context = grpc.ServicerContext


class SimSearchServicer(simsearch_pb2_grpc.SimSearchServicer):
    """Thin adapter from gRPC to the engine; no logic lives here."""

    def __init__(self, engine: Engine, streams: Streams | None = None) -> None:
        """``streams``: reads request streams (idle timeout, stop on shutdown); by default
        one with the engine's ``stream_idle_timeout_s``."""
        self._engine = engine
        self._streams = streams or Streams(engine.limits.stream_idle_timeout_s)

    @rpc
    def Info(self, request: pb.InfoRequest, context: Context) -> pb.InfoResponse:
        return pb.InfoResponse(
            model=model_to_wire(self._engine.model),
            poolings=poolings_to_wire(self._engine.poolings()),
            limits=limits_to_wire(self._engine.limits),
            version=__version__,
            store=self._engine.store,
        )

    @rpc
    def Encode(self, request: pb.EncodeRequest, context: Context) -> pb.EncodeResponse:
        result = self._engine.encode(
            inputs_from_wire(request.texts, request.pairs),
            pooling_or_none_from_wire(request.pooling),
            normalize=request.normalize,
            truncate=request.truncate,
            collection=request.collection,
        )
        return sentence_embeddings_to_wire(result)

    @rpc
    def EncodeTokens(
        self, request: pb.EncodeTokensRequest, context: Context
    ) -> pb.EncodeTokensResponse:
        items = self._engine.encode_tokens(
            inputs_from_wire(request.texts, request.pairs), truncate=request.truncate
        )
        return pb.EncodeTokensResponse(items=[token_embeddings_to_wire(item) for item in items])

    @rpc
    def Classify(self, request: pb.ClassifyRequest, context: Context) -> pb.ClassifyResponse:
        result = self._engine.classify(
            inputs_from_wire(request.texts, request.pairs), truncate=request.truncate
        )
        return classifications_to_wire(result)

    @rpc
    def Compare(self, request: pb.CompareRequest, context: Context) -> pb.CompareResponse:
        result = self._engine.compare(
            pairs_from_wire(request.pairs),
            pooling_or_none_from_wire(request.pooling),
            truncate=request.truncate,
            maxsim=maxsim_from_wire(request.maxsim) if request.HasField("maxsim") else None,
            alignments=request.alignments,
            similarity_matrix=request.similarity_matrix,
            collection=request.collection,
        )
        response = pb.CompareResponse(scores=result.cosine.tolist(), truncated=result.truncated)
        if result.maxsim is not None:
            response.maxsim_scores.extend(result.maxsim.tolist())
        if result.hybrid is not None:
            response.hybrid_scores.extend(result.hybrid.tolist())
        for alignment in result.alignments or []:
            response.alignments.append(alignment_to_wire(alignment))
        return response

    @rpc
    def CreateCollection(
        self, request: pb.CreateCollectionRequest, context: Context
    ) -> pb.CreateCollectionResponse:
        info = self._engine.create_collection(
            request.name,
            pooling_from_wire(request.pooling),
            request.index,
            store_tokens=request.store_tokens,
            calibration=calibration_from_wire(request.calibration),
        )
        return pb.CreateCollectionResponse(collection=collection_to_wire(info))

    @rpc
    def Calibrate(self, request: pb.CalibrateRequest, context: Context) -> pb.CalibrateResponse:
        info = self._engine.calibrate(request.name)
        return pb.CalibrateResponse(collection=collection_to_wire(info))

    @rpc
    def DescribeCollection(
        self, request: pb.DescribeCollectionRequest, context: Context
    ) -> pb.DescribeCollectionResponse:
        info = self._engine.describe_collection(request.name)
        return pb.DescribeCollectionResponse(collection=collection_to_wire(info))

    @rpc
    def ListCollections(
        self, request: pb.ListCollectionsRequest, context: Context
    ) -> pb.ListCollectionsResponse:
        infos = self._engine.list_collections()
        return pb.ListCollectionsResponse(collections=[collection_to_wire(info) for info in infos])

    @rpc
    def DropCollection(
        self, request: pb.DropCollectionRequest, context: Context
    ) -> pb.DropCollectionResponse:
        self._engine.drop_collection(request.name)
        return pb.DropCollectionResponse()

    @rpc
    def Upsert(self, request: pb.UpsertRequest, context: Context) -> pb.UpsertResponse:
        documents = [document_from_wire(doc) for doc in request.documents]
        truncated = self._engine.upsert(request.collection, documents, truncate=request.truncate)
        return pb.UpsertResponse(upserted=len(documents), truncated=truncated)

    @rpc
    def UpsertStream(
        self, request_iterator: Iterator[pb.UpsertRequest], context: Context
    ) -> pb.UpsertResponse:
        with closing(self._streams.read(request_iterator)) as requests:
            first = first_chunk(requests)
            upserted, truncated = self._engine.upsert_stream(
                first.collection, upsert_chunks(first, requests)
            )
        return pb.UpsertResponse(upserted=upserted, truncated=truncated)

    @rpc
    def Get(self, request: pb.GetRequest, context: Context) -> pb.GetResponse:
        documents = self._engine.get(request.collection, request.ids)
        response = pb.GetResponse(documents=[document_to_wire(d) for d in documents])
        if request.include_embeddings:
            embeddings = self._engine.get_embeddings(request.collection, request.ids)
            response.embeddings.CopyFrom(array_to_tensor(embeddings))
        return response

    @rpc
    def Delete(self, request: pb.DeleteRequest, context: Context) -> pb.DeleteResponse:
        return pb.DeleteResponse(deleted=self._engine.delete(request.collection, request.ids))

    @rpc_stream
    def Export(self, request: pb.ExportRequest, context: Context) -> Iterator[pb.ExportResponse]:
        chunks = self._engine.export(request.collection, request.after_id, request.chunk_size)
        return (
            pb.ExportResponse(documents=[document_to_wire(doc) for doc in chunk])
            for chunk in chunks
        )

    @rpc_stream
    def MinePairs(
        self, request: pb.MinePairsRequest, context: Context
    ) -> Iterator[pb.MinePairsResponse]:
        chunks = self._engine.mine_pairs(
            request.collection,
            request.target,
            top_m=request.top_m,
            min_score=request.min_score if request.HasField("min_score") else None,
            filter=struct_to_dict(request.filter) if request.HasField("filter") else None,
            maxsim=maxsim_from_wire(request.maxsim) if request.HasField("maxsim") else None,
            chunk_size=request.chunk_size,
        )
        return (
            mined_to_wire(chunk.pairs, chunk.documents_done, chunk.documents_total)
            for chunk in chunks
        )

    @rpc
    def Search(self, request: pb.SearchRequest, context: Context) -> pb.SearchResponse:
        rerank = rerank_from_wire(request.rerank) if request.HasField("rerank") else None
        params = search_params_from_wire(request.params) if request.HasField("params") else None
        result = self._engine.search(
            request.collection,
            queries_from_wire(request),
            request.k,
            filter=struct_to_dict(request.filter) if request.HasField("filter") else None,
            min_score=request.min_score if request.HasField("min_score") else None,
            truncate=request.truncate,
            rerank=rerank,
            params=params,
        )
        return pb.SearchResponse(results=hits_to_wire(result.hits), truncated=result.truncated)

    @rpc
    def Rerank(self, request: pb.RerankRequest, context: Context) -> pb.RerankResponse:
        result = self._engine.rerank(
            request.collection,
            [(query.text, list(query.ids)) for query in request.queries],
            maxsim_from_wire(request.maxsim),
            truncate=request.truncate,
        )
        return pb.RerankResponse(results=hits_to_wire(result.hits), truncated=result.truncated)
