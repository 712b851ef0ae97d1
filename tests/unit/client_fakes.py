"""A fake simsearch server for the ``test_client_*`` tests: real gRPC, canned answers.

``FakeSimSearch`` records every request, answers with small deterministic responses, and
aborts a method with a chosen status code when told to (``fail``). ``running(servicer)``
serves it on 127.0.0.1 at a free port. No engine, no model: the client is tested alone.
Imported as ``unit.client_fakes``.
"""

# ruff: noqa: N802  (servicer methods are named after the proto's RPCs)

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

import grpc
import numpy as np

from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc as pb_grpc
from simsearch.wire import array_to_tensor, dict_to_struct

DIMENSION = 4
HITS: list[tuple[str, float, str, dict[str, Any]]] = [
    ("d1", 0.9, "the first document", {"year": 2012, "lang": "en"}),
    ("d2", 0.51234, "the second document", {}),
    ("d3", 0.1, "the third document", {"year": 2020}),
]


class FakeSimSearch(pb_grpc.SimSearchServicer):
    """Records ``(method, request)`` pairs; ``fail(method, code, details)`` makes it abort."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.failures: dict[str, tuple[grpc.StatusCode, str, int]] = {}
        self.delay = 0.0

    def fail(self, method: str, code: grpc.StatusCode, details: str, *, after: int = 0) -> None:
        """Abort ``method`` with ``code`` once it has answered ``after`` calls."""
        self.failures[method] = (code, details, after)

    def sent(self, method: str) -> list[Any]:
        return [request for name, request in self.requests if name == method]

    def _enter(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        self.requests.append((method, request))
        time.sleep(self.delay)
        if method in self.failures:
            code, details, after = self.failures[method]
            if len(self.sent(method)) > after:
                context.abort(code, details)

    def Info(self, request: pb.InfoRequest, context: Any) -> pb.InfoResponse:
        self._enter("Info", request, context)
        return pb.InfoResponse(
            model=pb.ModelInfo(
                name="tiny-bert",
                fingerprint="abc123",
                hidden_size=DIMENSION,
                max_length=16,
                vocab_size=1000,
                device="cpu",
            ),
            poolings=[pb.POOLING_POOLER, pb.POOLING_CLS, pb.POOLING_MEAN, 42],  # type: ignore[list-item]
            limits=pb.Limits(max_batch=8, max_k=20, max_text_chars=500, max_message_bytes=2**20),
            version="9.9.9",
        )

    def Encode(self, request: pb.EncodeRequest, context: Any) -> pb.EncodeResponse:
        self._enter("Encode", request, context)
        n = len(request.texts) or len(request.pairs)
        embeddings = np.arange(n * DIMENSION, dtype=np.float32).reshape(n, DIMENSION) / 10
        truncated = [i for i, t in enumerate(request.texts) if "LONG" in t and request.truncate]
        return pb.EncodeResponse(embeddings=array_to_tensor(embeddings), truncated=truncated)

    def EncodeTokens(self, request: pb.EncodeTokensRequest, context: Any) -> Any:
        self._enter("EncodeTokens", request, context)
        inputs = [[t] for t in request.texts] or [[p.a, p.b] for p in request.pairs]
        return pb.EncodeTokensResponse(items=[_tokens(texts) for texts in inputs])

    def Compare(self, request: pb.CompareRequest, context: Any) -> pb.CompareResponse:
        self._enter("Compare", request, context)
        scores = [0.25 * (i + 1) for i in range(len(request.pairs))]
        return pb.CompareResponse(scores=scores, truncated=[0] if request.truncate else [])

    def CreateCollection(self, request: Any, context: Any) -> pb.CreateCollectionResponse:
        self._enter("CreateCollection", request, context)
        info = _collection(request.name, request.pooling, request.index or "flat")
        return pb.CreateCollectionResponse(collection=info)

    def DescribeCollection(self, request: Any, context: Any) -> pb.DescribeCollectionResponse:
        self._enter("DescribeCollection", request, context)
        return pb.DescribeCollectionResponse(collection=_collection(request.name))

    def ListCollections(self, request: Any, context: Any) -> pb.ListCollectionsResponse:
        self._enter("ListCollections", request, context)
        infos = [_collection("alpha", pb.POOLING_MEAN, "HNSW32"), _collection("beta")]
        return pb.ListCollectionsResponse(collections=infos)

    def DropCollection(self, request: Any, context: Any) -> pb.DropCollectionResponse:
        self._enter("DropCollection", request, context)
        return pb.DropCollectionResponse()

    def Upsert(self, request: pb.UpsertRequest, context: Any) -> pb.UpsertResponse:
        """Truncates (when asked) the documents whose text contains "LONG"."""
        self._enter("Upsert", request, context)
        truncated = [
            i for i, doc in enumerate(request.documents) if "LONG" in doc.text and request.truncate
        ]
        return pb.UpsertResponse(upserted=len(request.documents), truncated=truncated)

    def UpsertStream(self, requests: Any, context: Any) -> pb.UpsertResponse:
        """Each chunk is recorded as an "UpsertStream" request; truncation as in Upsert."""
        upserted, truncated = 0, []
        for request in requests:
            self._enter("UpsertStream", request, context)
            truncated += [
                upserted + i
                for i, doc in enumerate(request.documents)
                if "LONG" in doc.text and request.truncate
            ]
            upserted += len(request.documents)
        return pb.UpsertResponse(upserted=upserted, truncated=truncated)

    def Get(self, request: pb.GetRequest, context: Any) -> pb.GetResponse:
        self._enter("Get", request, context)
        documents = [
            pb.Document(id=i, text=f"text of {i}", metadata=dict_to_struct({"n": 7}))
            for i in request.ids
        ]
        response = pb.GetResponse(documents=documents)
        if request.include_embeddings:
            vectors = np.ones((len(request.ids), DIMENSION), dtype=np.float32) / 2
            response.embeddings.CopyFrom(array_to_tensor(vectors))
        return response

    def Delete(self, request: pb.DeleteRequest, context: Any) -> pb.DeleteResponse:
        self._enter("Delete", request, context)
        return pb.DeleteResponse(deleted=len({i for i in request.ids if i.startswith("d")}))

    def Search(self, request: pb.SearchRequest, context: Any) -> pb.SearchResponse:
        """The same HITS for every query, cut to k."""
        self._enter("Search", request, context)
        n = len(request.texts) or (request.vectors.shape[0] if request.vectors.shape else 0)
        hits = [pb.Hit(id=i, score=s, text=t, metadata=dict_to_struct(m)) for i, s, t, m in HITS][
            : request.k
        ]
        return pb.SearchResponse(results=[pb.SearchResult(hits=hits) for _ in range(n)])


def _tokens(texts: list[str]) -> pb.TokenEmbeddings:
    """[CLS] words of A [SEP] (words of B [SEP]): whitespace words, offsets in their text."""
    tokens, starts, ends, segments = ["[CLS]"], [0], [0], [0]
    for segment, text in enumerate(texts):
        position = 0
        for word in text.split():
            start = text.index(word, position)
            position = start + len(word)
            tokens.append(word.lower())
            starts.append(start)
            ends.append(position)
            segments.append(segment)
        tokens.append("[SEP]")
        starts.append(0)
        ends.append(0)
        segments.append(segment)
    n = len(tokens)
    return pb.TokenEmbeddings(
        embeddings=array_to_tensor(np.full((n, DIMENSION), 0.5, dtype=np.float32)),
        tokens=tokens,
        token_ids=[100 + i for i in range(n)],
        starts=starts,
        ends=ends,
        special=[t in ("[CLS]", "[SEP]") for t in tokens],
        segments=segments,
        truncated=False,
    )


def _collection(
    name: str, pooling: int = pb.POOLING_POOLER, index: str = "flat"
) -> pb.CollectionInfo:
    return pb.CollectionInfo(
        name=name,
        pooling=pooling,  # type: ignore[arg-type]
        index=index,
        dimension=DIMENSION,
        count=1234,
        model_name="tiny-bert",
        model_fingerprint="abc123",
        created_at=1_700_000_000.0,
        compatible=name != "old",
    )


@contextmanager
def running(servicer: FakeSimSearch) -> Iterator[str]:
    """Serve ``servicer`` on 127.0.0.1 at a free port; yields its address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_SimSearchServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def closed_port_address() -> str:
    """An address on 127.0.0.1 where nothing listens (a port just freed)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"
