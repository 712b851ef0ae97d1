"""Hostile input: generated requests to every RPC; each answer is a documented status, never
INTERNAL or UNKNOWN, and the server keeps serving.

One server per module (tiny model; limits lowered so they are cheap to cross: 16 items per
batch, k <= 100, 2,000 characters per text, 1 MiB messages). Requests go through the raw
generated stub, or as hand-made bytes through a generic channel call, so the tests can send what
the client library refuses: empty, whitespace-only, control and zero-width characters, texts over
the limits, invalid UTF-8, NaN and infinite vectors, wrong dimensions and dtypes, k out of range,
unknown and duplicate ids, metadata and filters that JSON cannot hold or that nest too deep,
random bytes, oversize messages and expired deadlines. After every example the server must still
answer Info. Where a request is accepted, the answer is checked too (shapes, sorted distinct
hits, stored text and metadata read back unchanged).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import tensor_pb2
from simsearch.wire import struct_to_dict, tensor_to_array
from support.figures import FIGURES
from support.tiny_bert import CHINESE, ENGLISH_WORDS

from .servers import Server, Zygote, start_forked
from .wire_bytes import (
    INVALID_UTF8,
    STRING_FIELDS,
    length_delimited,
    nested_struct,
    with_invalid_utf8,
)

SERVICE = pb.DESCRIPTOR.services_by_name["SimSearch"]
RPCS = [method.name for method in SERVICE.methods]
STREAMED = {method.name for method in SERVICE.methods if method.server_streaming}
MiB = 1024 * 1024
MAX_BATCH, MAX_K, MAX_CHARS, DIMENSION = 16, 100, 2000, 32
FLAGS = (
    "--max-batch",
    str(MAX_BATCH),
    "--max-k",
    str(MAX_K),
    "--max-text-chars",
    str(MAX_CHARS),
    "--max-message-bytes",
    str(MiB),
    "--checkpoint-every",
    "50",
)
C = grpc.StatusCode
# What the proto documents for bad input; UNAVAILABLE (storage) and INTERNAL (a bug) are not.
DOCUMENTED = {
    C.OK,
    C.INVALID_ARGUMENT,
    C.NOT_FOUND,
    C.ALREADY_EXISTS,
    C.FAILED_PRECONDITION,
    C.RESOURCE_EXHAUSTED,
    C.DEADLINE_EXCEEDED,
}
PROTECTED = {"docs", "ann"}  # the module's collections: never dropped by generated requests
EXAMPLES = 40
HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass
class Target:
    """The module's server, a channel to it and what was seen per RPC."""

    server: Server
    channel: grpc.Channel
    statuses: dict[str, Counter[str]] = field(default_factory=dict)

    def call(self, rpc: str, request: Any, timeout: float = 30.0) -> tuple[C, bytes]:
        """Send a message, raw bytes, or (UpsertStream) a list of either; (code, the response
        bytes, or the status details)."""
        path = f"/{SERVICE.full_name}/{rpc}"
        try:
            if rpc == "UpsertStream":
                call = self.channel.stream_unary(path)
                answer = call(iter([_bytes(chunk) for chunk in request]), timeout=timeout)
            elif rpc in STREAMED:  # the response stream's messages, joined
                answer = b"".join(self.channel.unary_stream(path)(_bytes(request), timeout=timeout))
            else:
                answer = self.channel.unary_unary(path)(_bytes(request), timeout=timeout)
            code = C.OK
        except grpc.RpcError as error:
            code, answer = error.code(), (error.details() or "").encode()
            assert "Traceback" not in (error.details() or ""), error.details()
        self.statuses.setdefault(rpc, Counter())[code.name] += 1
        return code, answer

    def check(self, rpc: str, request: Any, allowed: set[C] = DOCUMENTED) -> tuple[C, bytes]:
        """Call, assert the status is allowed, then that the server still answers Info."""
        code, answer = self.call(rpc, request)
        assert code in allowed, f"{rpc} answered {code.name} ({answer[:300]!r}) to {_show(request)}"
        info, _ = self.call("Info", pb.InfoRequest())
        assert info == C.OK, f"the server stopped serving after {rpc}({_show(request)})"
        return code, answer


def _bytes(request: Any) -> bytes:
    return request if isinstance(request, bytes) else request.SerializeToString()


def _show(request: Any) -> str:
    return repr(request)[:600]


@pytest.fixture(scope="module")
def target(
    zygote: Zygote, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("hostile")
    server = start_forked(zygote, tiny_model_dir, root / "data", root / "server.log", *FLAGS)
    server.wait_ready()
    options = [
        ("grpc.max_send_message_length", 8 * MiB),
        ("grpc.max_receive_message_length", 8 * MiB),
    ]
    channel = grpc.insecure_channel(server.address, options=options)
    stub = target_stub(channel)
    for name, index in (("docs", "flat"), ("ann", "HNSW32")):
        stub.CreateCollection(pb.CreateCollectionRequest(name=name, index=index, store_tokens=True))
        documents = [
            pb.Document(id=f"base-{i}", text=f"{ENGLISH_WORDS[i]} {ENGLISH_WORDS[i * 3]} {i}")
            for i in range(MAX_BATCH)
        ]
        stub.Upsert(pb.UpsertRequest(collection=name, documents=documents))
    found = Target(server, channel)
    yield found
    FIGURES["hostile_input"] = {
        "examples_per_rpc_property_test": EXAMPLES,
        "requests_per_rpc": {
            rpc: sum(seen.values()) for rpc, seen in sorted(found.statuses.items())
        },
        "statuses_per_rpc": {rpc: dict(seen) for rpc, seen in sorted(found.statuses.items())},
        "expired_deadline_calls_answered_deadline_exceeded_of_6": dict(sorted(EXPIRED.items())),
    }
    channel.close()
    alive = server.poll() is None
    log = server.log()
    server.kill()
    assert alive, "the server died"
    assert "internal error" not in log, log[-3000:]


def target_stub(channel: grpc.Channel) -> Any:
    from simsearch.v1 import simsearch_pb2_grpc

    return simsearch_pb2_grpc.SimSearchStub(channel)


# -- strategies -----------------------------------------------------------------------------

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u034f\u180e"
WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2007\u2028\u2029\u202f\u3000"
CONTROL = "".join(map(chr, [*range(0, 32), 0x7F, *range(0x80, 0xA0)]))
ODD = "\u202e\u202d\u0301\u0338\U0001f600\U0001f9d1\u200d\U0001f4bb\ufffd\ufffe\uffff\U0010ffff"
WORDS = st.sampled_from(ENGLISH_WORDS + CHINESE)
sentences = st.lists(WORDS, min_size=1, max_size=8).map(" ".join)

# Texts the server should accept (odd but meaningful), and texts it should refuse or cut.
good_texts = st.one_of(
    sentences,
    st.tuples(sentences, st.sampled_from(ZERO_WIDTH + CONTROL + ODD)).map(
        lambda t: t[1].join(t[0])
    ),
    st.tuples(sentences, st.text(ZERO_WIDTH + CONTROL + ODD, max_size=6)).map("".join),
    st.text(min_size=1, max_size=40).filter(str.strip),
)
bad_texts = st.one_of(
    st.just(""),
    st.text(WHITESPACE, min_size=1, max_size=12),
    st.text(ZERO_WIDTH, min_size=1, max_size=6),
    st.text(CONTROL, min_size=1, max_size=12),
    st.integers(MAX_CHARS - 2, MAX_CHARS + 50).map(lambda n: ("cat " * n)[:n]),  # at the limit
    st.integers(70, 300).map(lambda n: " ".join(["dog"] * n)),  # over 64 tokens
    st.integers(1, 300).map(lambda n: "\u200b" * n),
)
texts = st.one_of(good_texts, bad_texts)
text_lists = st.one_of(
    st.lists(good_texts, min_size=1, max_size=4),
    st.lists(texts, max_size=MAX_BATCH + 2),
)
pairs = st.lists(st.builds(pb.TextPair, a=texts, b=texts), max_size=4)
enums = st.one_of(st.integers(0, 3), st.integers(0, 4), st.integers(-(2**31), 2**31 - 1))
floats = st.one_of(st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e-45]))
names = st.one_of(
    st.sampled_from(
        [
            "docs",
            "ann",
            "missing",
            "",
            ".",
            "..",
            "../docs",
            "a/b",
            "x" * 65,
            "docs\x00",
            "DOCS",
            "-x",
            "_x",
            " docs",
            "d\u200bocs",
            "日本",
        ]
    ),
    st.text(max_size=70),
)
stored_ids = st.sampled_from([f"base-{i}" for i in range(MAX_BATCH)])
good_ids = st.one_of(
    st.sampled_from(
        [
            "base-1",
            "base-2",
            "h-1",
            "h-2",
            " ",
            "\x00",
            "\u200b",
            "x" * 512,
            "id\nwith\nlines",
            "'; DROP TABLE docs; --",
            "%",
            "_",
            "日本",
        ]
    ),
    st.text(min_size=1, max_size=20),
)
ids = st.one_of(good_ids, st.sampled_from(["", "x" * 513]))
keys = st.one_of(
    st.sampled_from(["", "a", "$.a", "a.b", '"', "\x00", "[0]", "key'"]), st.text(max_size=8)
)
scalars = st.one_of(st.none(), st.booleans(), floats, st.integers(-(2**70), 2**70), texts)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)
objects = st.dictionaries(keys, values, max_size=4)
finite = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(-(2**53), 2**53),
        good_texts,
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)
good_objects = st.dictionaries(keys, finite, max_size=4)


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    try:
        message.update(value)
    except (ValueError, TypeError, OverflowError):
        message.Clear()
    return message


structs = objects.map(struct)


@st.composite
def tensors(draw: st.DrawFn) -> tensor_pb2.Tensor:
    rows, columns = draw(st.integers(0, 3)), draw(st.sampled_from([DIMENSION, 31, 33, 0, 1]))
    fill = draw(st.sampled_from(["normal", "nan", "inf", "zero", "huge", "tiny"]))
    array = np.random.default_rng(draw(st.integers(0, 99))).standard_normal((rows, columns))
    special = {"nan": math.nan, "inf": math.inf, "zero": 0.0, "huge": 3e38, "tiny": 1e-45}
    if fill in special and array.size:
        array.flat[draw(st.integers(0, array.size - 1))] = special[fill]
        if fill == "zero":
            array[:] = 0.0
    dtype = draw(
        st.sampled_from(
            [
                tensor_pb2.DTYPE_FLOAT32,
                tensor_pb2.DTYPE_FLOAT16,
                tensor_pb2.DTYPE_INT64,
                tensor_pb2.DTYPE_UNSPECIFIED,
                99,
            ]
        )
    )
    numpy_type = {tensor_pb2.DTYPE_FLOAT16: "<f2", tensor_pb2.DTYPE_INT64: "<i8"}.get(dtype, "<f4")
    with np.errstate(all="ignore"):
        data = np.nan_to_num(array, nan=0) if numpy_type == "<i8" else array
        data = data.astype(numpy_type).tobytes()
    shape = draw(
        st.sampled_from(
            [
                [rows, columns],
                [rows, columns, 1],
                [rows * columns],
                [-1, 32],
                [2**40, 0],
                [2**62, 2**62],
                [],
            ]
        )
    )
    if draw(st.booleans()) and data:
        data = data[:-1]
    return tensor_pb2.Tensor(shape=shape, dtype=dtype, data=data)  # type: ignore[arg-type]


maxsims = st.builds(pb.MaxSim, direction=enums, tokens=enums, alpha=st.one_of(st.none(), floats))
documents = st.builds(pb.Document, id=ids, text=texts, metadata=structs)
good_documents = st.lists(
    st.builds(pb.Document, id=good_ids, text=good_texts, metadata=good_objects.map(struct)),
    min_size=1,
    max_size=4,
    unique_by=lambda doc: doc.id,
)
document_lists = st.one_of(good_documents, st.lists(documents, max_size=MAX_BATCH + 2))
collections = st.one_of(st.sampled_from(["docs", "ann"]), st.sampled_from(["missing"]), names)
deep = st.integers(90, 400).map(nested_struct)


@st.composite
def searches(draw: st.DrawFn) -> pb.SearchRequest:
    request = pb.SearchRequest(
        collection=draw(collections),
        k=draw(
            st.one_of(
                st.integers(1, MAX_K),
                st.sampled_from([0, MAX_K + 1]),
                st.integers(-(2**31), 2**31 - 1),
            )
        ),
        truncate=draw(st.booleans()),
    )
    what = draw(st.sampled_from(["texts", "texts", "vectors", "vectors", "ids", "both", "neither"]))
    if what in ("texts", "both"):
        request.texts.extend(draw(text_lists))
    if what == "ids" or (what == "both" and draw(st.booleans())):
        request.ids.extend(draw(st.lists(st.one_of(stored_ids, ids), max_size=MAX_BATCH + 2)))
    if what in ("vectors", "both"):
        good = _vectors(np.random.default_rng(draw(st.integers(0, 9))).standard_normal((2, 32)))
        request.vectors.CopyFrom(draw(st.one_of(st.just(good), tensors())))
    if draw(st.booleans()):
        request.filter.CopyFrom(draw(st.one_of(good_objects, objects).map(struct)))
    if draw(st.booleans()):
        request.min_score = draw(floats)
    if draw(st.integers(0, 3)) == 0:
        request.rerank.CopyFrom(
            pb.Rerank(
                depth=draw(st.integers(-5, 2000)),
                maxsim=draw(maxsims),
                cross_encoder=draw(st.booleans()),
            )
        )
    if draw(st.integers(0, 3)) == 0:
        params = pb.SearchParams()
        for name in draw(st.sets(st.sampled_from(["ef_search", "nprobe"]))):
            setattr(params, name, draw(st.integers(-(2**31), 2**31 - 1)))
        request.params.CopyFrom(params)
    return request


good_maxsims = st.builds(
    pb.MaxSim,
    direction=st.integers(0, 3),
    tokens=st.integers(0, 3),
    alpha=st.one_of(st.none(), st.floats(0, 1)),
)
flat_filters = st.dictionaries(
    keys, st.one_of(st.none(), st.booleans(), st.integers(-5, 5), sentences), max_size=2
)


@st.composite
def plausible_searches(draw: st.DrawFn) -> pb.SearchRequest:
    """Requests the server should mostly accept, odd texts and filters included."""
    request = pb.SearchRequest(
        collection=draw(st.sampled_from(["docs", "ann"])),
        k=draw(st.integers(1, MAX_K)),
        truncate=draw(st.booleans()),
    )
    what = draw(st.sampled_from(["texts", "vectors", "ids"]))
    if what == "texts":
        request.texts.extend(draw(st.lists(good_texts, min_size=1, max_size=3)))
    elif what == "ids":
        request.ids.extend(draw(st.lists(stored_ids, min_size=1, max_size=3, unique=True)))
    else:
        rows = np.random.default_rng(draw(st.integers(0, 99))).standard_normal((2, DIMENSION))
        request.vectors.CopyFrom(_vectors(rows * draw(st.sampled_from([1e-30, 1.0, 1e30]))))
    if draw(st.booleans()):
        request.filter.CopyFrom(struct(draw(flat_filters)))
    if draw(st.booleans()):
        request.min_score = draw(st.floats(-1, 1))
    if not request.HasField("vectors") and draw(st.booleans()):
        depth = draw(st.integers(request.k, max(request.k, 200)))
        request.rerank.CopyFrom(pb.Rerank(depth=depth, maxsim=draw(good_maxsims)))
    return request


plausible_reranks = st.builds(
    pb.RerankRequest,
    collection=st.sampled_from(["docs", "ann"]),
    queries=st.lists(
        st.builds(
            pb.RerankQuery,
            text=good_texts,
            ids=st.lists(stored_ids, min_size=1, max_size=5, unique=True),
        ),
        min_size=1,
        max_size=3,
    ),
    maxsim=good_maxsims,
    truncate=st.booleans(),
)


def unsafe_collection(request: Any) -> Any:
    """DropCollection never targets the module's own collections."""
    if getattr(request, "name", None) in PROTECTED:
        request.name = "not-" + request.name
    return request


MESSAGES: dict[str, st.SearchStrategy[Any]] = {
    "Info": st.just(pb.InfoRequest()),
    "Encode": st.builds(
        pb.EncodeRequest,
        texts=text_lists,
        pairs=pairs,
        pooling=enums,
        normalize=st.booleans(),
        truncate=st.booleans(),
        collection=st.one_of(st.just(""), collections),
    ),
    "EncodeTokens": st.builds(
        pb.EncodeTokensRequest, texts=text_lists, pairs=pairs, truncate=st.booleans()
    ),
    "Compare": st.builds(
        pb.CompareRequest,
        pairs=pairs,
        pooling=enums,
        truncate=st.booleans(),
        maxsim=st.one_of(st.none(), maxsims),
        alignments=st.booleans(),
        similarity_matrix=st.booleans(),
        collection=st.one_of(st.just(""), collections),
    ),
    "CreateCollection": st.builds(
        pb.CreateCollectionRequest,
        name=names,
        pooling=enums,
        index=st.one_of(
            st.sampled_from(
                [
                    "",
                    "flat",
                    "HNSW32",
                    "IVF4,Flat",
                    "bogus",
                    "PCAR64,Flat",
                    "IVF1,PQ64x16",
                    "HNSW0",
                    "Flat | efSearch=abc",
                    "HNSW32 | efSearch=-1",
                    "IVF4,Flat | nprobe=0",
                    "\x00",
                    "IDMap,Flat",
                    "LSH",
                    "PQ1000",
                ]
            ),
            st.text(max_size=20),
        ),
        store_tokens=st.booleans(),
        calibration=st.builds(pb.Calibration, kind=enums, dimensions=st.integers(-40, 40)),
    ),
    "DescribeCollection": st.builds(pb.DescribeCollectionRequest, name=names),
    "ListCollections": st.just(pb.ListCollectionsRequest()),
    "DropCollection": st.builds(pb.DropCollectionRequest, name=names).map(unsafe_collection),
    "Upsert": st.builds(
        pb.UpsertRequest, collection=collections, documents=document_lists, truncate=st.booleans()
    ),
    "UpsertStream": st.lists(
        st.builds(
            pb.UpsertRequest,
            collection=collections,
            documents=document_lists,
            truncate=st.booleans(),
        ),
        max_size=3,
    ),
    "Get": st.builds(
        pb.GetRequest,
        collection=collections,
        ids=st.one_of(
            st.lists(stored_ids, min_size=1, max_size=4), st.lists(ids, max_size=MAX_BATCH + 2)
        ),
        include_embeddings=st.booleans(),
    ),
    "Delete": st.builds(
        pb.DeleteRequest,
        collection=collections,
        ids=st.lists(ids.filter(lambda i: not i.startswith("base-")), max_size=MAX_BATCH + 2),
    ),
    "Export": st.builds(
        pb.ExportRequest,
        collection=collections,
        after_id=st.one_of(st.just(""), stored_ids, ids),
        chunk_size=st.one_of(
            st.integers(-2, MAX_BATCH + 2), st.sampled_from([-(2**31), 2**31 - 1])
        ),
    ),
    "Search": st.one_of(plausible_searches(), searches()),
    "Rerank": st.one_of(
        plausible_reranks,
        st.builds(
            pb.RerankRequest,
            collection=collections,
            queries=st.lists(
                st.builds(
                    pb.RerankQuery,
                    text=texts,
                    ids=st.one_of(
                        st.lists(stored_ids, min_size=1, max_size=5), st.lists(ids, max_size=5)
                    ),
                ),
                max_size=4,
            ),
            maxsim=maxsims,
            truncate=st.booleans(),
        ),
    ),
    "Calibrate": st.builds(pb.CalibrateRequest, name=collections),
    # The module's model has no classification head: valid requests are FAILED_PRECONDITION.
    "Classify": st.builds(
        pb.ClassifyRequest, texts=text_lists, pairs=pairs, truncate=st.booleans()
    ),
    "MinePairs": st.builds(
        pb.MinePairsRequest,
        collection=collections,
        target=st.one_of(st.just(""), collections),
        top_m=st.one_of(st.integers(-2, MAX_K + 2), st.sampled_from([-(2**31), 2**31 - 1])),
        min_score=st.one_of(st.none(), floats),
        filter=st.one_of(st.none(), st.one_of(good_objects, objects).map(struct)),
        maxsim=st.one_of(st.none(), maxsims),
        chunk_size=st.one_of(st.integers(-2, MAX_BATCH + 2), st.sampled_from([2**31 - 1])),
    ),
}


@st.composite
def raw_requests(draw: st.DrawFn, rpc: str) -> bytes:
    """Bytes no client library would send: random, invalid UTF-8, or a too-deep Struct."""
    kind = draw(st.sampled_from(["random", "utf8", "deep"]))
    if kind == "utf8" and rpc in STRING_FIELDS:
        base = MESSAGES[rpc].map(lambda m: m[0] if isinstance(m, list) and m else m)
        message = draw(base)
        message = b"" if isinstance(message, list) else message.SerializeToString()
        where = draw(st.sampled_from(STRING_FIELDS[rpc]))
        return with_invalid_utf8(message, where, draw(st.sampled_from(INVALID_UTF8)))
    if kind == "deep" and rpc in ("Upsert", "UpsertStream", "Search"):
        nested = draw(deep)
        if rpc == "Search":
            return pb.SearchRequest(collection="docs", texts=["cat"], k=1).SerializeToString() + (
                length_delimited(5, nested)
            )
        document = (
            length_delimited(1, b"deep") + length_delimited(2, b"cat") + length_delimited(3, nested)
        )
        return length_delimited(1, b"docs") + length_delimited(2, document)
    return draw(st.binary(max_size=80))


# -- the property tests ---------------------------------------------------------------------


def test_every_rpc_has_strategies() -> None:
    assert sorted(MESSAGES) == sorted(RPCS)


@pytest.mark.parametrize("rpc", RPCS)
@HYPOTHESIS
@given(data=st.data())
def test_generated_requests_get_documented_statuses(target: Target, rpc: str, data: Any) -> None:
    request = data.draw(MESSAGES[rpc], label="request")
    code, answer = target.check(rpc, request)
    if code == C.OK:
        ACCEPTED.get(rpc, lambda *_: None)(target, request, answer)


@pytest.mark.parametrize("rpc", RPCS)
@HYPOTHESIS
@given(data=st.data())
def test_undecodable_requests_get_invalid_argument(target: Target, rpc: str, data: Any) -> None:
    raw = data.draw(raw_requests(rpc), label="raw")
    request = [raw] if rpc == "UpsertStream" else raw
    target.check(rpc, request, DOCUMENTED - {C.FAILED_PRECONDITION})


# -- what an accepted request must have answered ---------------------------------------------


def _encoded(target: Target, request: pb.EncodeRequest, answer: bytes) -> None:
    embeddings = tensor_to_array(pb.EncodeResponse.FromString(answer).embeddings)
    assert embeddings.shape == (len(request.texts) + len(request.pairs), DIMENSION)
    assert np.isfinite(embeddings).all()


def _searched(target: Target, request: pb.SearchRequest, answer: bytes) -> None:
    response = pb.SearchResponse.FromString(answer)
    for result in response.results:
        ids = [hit.id for hit in result.hits]
        assert len(ids) == len(set(ids)) and len(ids) <= request.k
        scores = [hit.score for hit in result.hits]
        assert all(math.isfinite(s) for s in scores) and scores == sorted(scores, reverse=True)


def _upserted(target: Target, request: pb.UpsertRequest, answer: bytes) -> None:
    """What was stored reads back unchanged (text exactly, metadata as its Struct decodes), and
    sending the same documents again replaces them."""
    if not request.documents:
        return
    assert target.call("Upsert", request)[0] == C.OK
    get = pb.GetRequest(collection=request.collection, ids=[d.id for d in request.documents])
    code, raw = target.call("Get", get)
    assert code == C.OK, code
    for sent, stored in zip(
        request.documents, pb.GetResponse.FromString(raw).documents, strict=True
    ):
        assert (stored.id, stored.text) == (sent.id, sent.text)
        assert struct_to_dict(stored.metadata) == struct_to_dict(sent.metadata)


def _reranked(target: Target, request: pb.RerankRequest, answer: bytes) -> None:
    """One result per query holding exactly its ids, best first."""
    response = pb.RerankResponse.FromString(answer)
    assert len(response.results) == len(request.queries)
    for query, result in zip(request.queries, response.results, strict=True):
        assert sorted(hit.id for hit in result.hits) == sorted(set(query.ids))
        scores = [hit.score for hit in result.hits]
        assert all(math.isfinite(s) for s in scores) and scores == sorted(scores, reverse=True)


ACCEPTED = {"Encode": _encoded, "Search": _searched, "Upsert": _upserted, "Rerank": _reranked}


# -- named cases: one input, one status --------------------------------------------------------


def _vectors(array: np.ndarray) -> tensor_pb2.Tensor:
    return tensor_pb2.Tensor(
        shape=list(array.shape), dtype=tensor_pb2.DTYPE_FLOAT32, data=array.astype("<f4").tobytes()
    )


def _search(**fields: Any) -> pb.SearchRequest:
    return pb.SearchRequest(**{"collection": "docs", "k": 3, **fields})


ONES = np.ones((1, DIMENSION))
NAMED: dict[str, tuple[str, Any, C | set[C]]] = {
    "encode-empty-batch": ("Encode", pb.EncodeRequest(), C.INVALID_ARGUMENT),
    "encode-empty-text": ("Encode", pb.EncodeRequest(texts=[""]), C.INVALID_ARGUMENT),
    "encode-whitespace": ("Encode", pb.EncodeRequest(texts=[" \t\n\u3000"]), C.INVALID_ARGUMENT),
    "encode-over-chars": (
        "Encode",
        pb.EncodeRequest(texts=["a" * (MAX_CHARS + 1)]),
        C.RESOURCE_EXHAUSTED,
    ),
    "encode-over-tokens": ("Encode", pb.EncodeRequest(texts=["dog " * 100]), C.INVALID_ARGUMENT),
    "encode-over-tokens-truncated": (
        "Encode",
        pb.EncodeRequest(texts=["dog " * 100], truncate=True),
        C.OK,
    ),
    "encode-over-batch": (
        "Encode",
        pb.EncodeRequest(texts=["cat"] * (MAX_BATCH + 1)),
        C.RESOURCE_EXHAUSTED,
    ),
    "encode-unknown-pooling": (
        "Encode",
        pb.EncodeRequest(texts=["cat"], pooling=99),
        C.INVALID_ARGUMENT,
    ),
    "encode-texts-and-pairs": (
        "Encode",
        pb.EncodeRequest(texts=["cat"], pairs=[pb.TextPair(a="a", b="b")]),
        C.INVALID_ARGUMENT,
    ),
    "encode-control-chars": ("Encode", pb.EncodeRequest(texts=["cat\x00\x01\x7f dog"]), C.OK),
    "tokens-empty-batch": ("EncodeTokens", pb.EncodeTokensRequest(), C.INVALID_ARGUMENT),
    "compare-empty": ("Compare", pb.CompareRequest(), C.INVALID_ARGUMENT),
    "compare-alpha-nan": (
        "Compare",
        pb.CompareRequest(pairs=[pb.TextPair(a="a", b="b")], maxsim=pb.MaxSim(alpha=math.nan)),
        C.INVALID_ARGUMENT,
    ),
    "compare-alpha-2": (
        "Compare",
        pb.CompareRequest(pairs=[pb.TextPair(a="a", b="b")], maxsim=pb.MaxSim(alpha=2.0)),
        C.INVALID_ARGUMENT,
    ),
    "create-existing": (
        "CreateCollection",
        pb.CreateCollectionRequest(name="docs"),
        C.ALREADY_EXISTS,
    ),
    "create-bad-name": (
        "CreateCollection",
        pb.CreateCollectionRequest(name="../x"),
        C.INVALID_ARGUMENT,
    ),
    "create-bad-index": (
        "CreateCollection",
        pb.CreateCollectionRequest(name="n1", index="bogus"),
        C.INVALID_ARGUMENT,
    ),
    "describe-unknown": (
        "DescribeCollection",
        pb.DescribeCollectionRequest(name="missing"),
        C.NOT_FOUND,
    ),
    "drop-unknown": ("DropCollection", pb.DropCollectionRequest(name="missing"), C.NOT_FOUND),
    "upsert-unknown-collection": (
        "Upsert",
        pb.UpsertRequest(collection="missing", documents=[pb.Document(id="a", text="cat")]),
        C.NOT_FOUND,
    ),
    "upsert-duplicate-ids": (
        "Upsert",
        pb.UpsertRequest(
            collection="docs",
            documents=[pb.Document(id="a", text="cat"), pb.Document(id="a", text="dog")],
        ),
        C.INVALID_ARGUMENT,
    ),
    "upsert-empty-id": (
        "Upsert",
        pb.UpsertRequest(collection="docs", documents=[pb.Document(id="", text="cat")]),
        C.INVALID_ARGUMENT,
    ),
    "upsert-long-id": (
        "Upsert",
        pb.UpsertRequest(collection="docs", documents=[pb.Document(id="x" * 513, text="cat")]),
        C.INVALID_ARGUMENT,
    ),
    "upsert-nan-metadata": (
        "Upsert",
        pb.UpsertRequest(
            collection="docs",
            documents=[pb.Document(id="a", text="cat", metadata=struct({"x": math.nan}))],
        ),
        C.INVALID_ARGUMENT,
    ),
    "upsert-nul-id": (
        "Upsert",
        pb.UpsertRequest(collection="docs", documents=[pb.Document(id="a\x00b", text="cat")]),
        C.INVALID_ARGUMENT,
    ),
    "get-nul-id": ("Get", pb.GetRequest(collection="docs", ids=["\x00"]), C.INVALID_ARGUMENT),
    "delete-nul-id": (
        "Delete",
        pb.DeleteRequest(collection="docs", ids=["\x00"]),
        C.INVALID_ARGUMENT,
    ),
    "upsert-blank-text": (
        "Upsert",
        pb.UpsertRequest(collection="docs", documents=[pb.Document(id="a", text="  ")]),
        C.INVALID_ARGUMENT,
    ),
    "upsert-empty": ("Upsert", pb.UpsertRequest(collection="docs"), C.INVALID_ARGUMENT),
    "stream-empty": ("UpsertStream", [], C.INVALID_ARGUMENT),
    "get-unknown-id": ("Get", pb.GetRequest(collection="docs", ids=["nope"]), C.NOT_FOUND),
    "get-duplicate-ids": ("Get", pb.GetRequest(collection="docs", ids=["base-1", "base-1"]), C.OK),
    "get-no-ids": ("Get", pb.GetRequest(collection="docs"), C.INVALID_ARGUMENT),
    "delete-unknown-ids": (
        "Delete",
        pb.DeleteRequest(collection="docs", ids=["nope", "nope"]),
        C.OK,
    ),
    "search-k-0": ("Search", _search(texts=["cat"], k=0), C.INVALID_ARGUMENT),
    "search-k-negative": ("Search", _search(texts=["cat"], k=-1), C.INVALID_ARGUMENT),
    "search-k-over": ("Search", _search(texts=["cat"], k=MAX_K + 1), C.RESOURCE_EXHAUSTED),
    "search-k-int32-max": ("Search", _search(texts=["cat"], k=2**31 - 1), C.RESOURCE_EXHAUSTED),
    "search-nan-vector": ("Search", _search(vectors=_vectors(ONES * math.nan)), C.INVALID_ARGUMENT),
    "search-inf-vector": ("Search", _search(vectors=_vectors(ONES * math.inf)), C.INVALID_ARGUMENT),
    "search-zero-vector": ("Search", _search(vectors=_vectors(ONES * 0)), C.INVALID_ARGUMENT),
    "search-huge-vector": ("Search", _search(vectors=_vectors(ONES * 3e38)), C.OK),
    "search-wrong-dimension": (
        "Search",
        _search(vectors=_vectors(np.ones((1, 31)))),
        C.INVALID_ARGUMENT,
    ),
    "search-1d-vector": (
        "Search",
        _search(vectors=_vectors(np.ones(DIMENSION))),
        C.INVALID_ARGUMENT,
    ),
    "search-bytes-mismatch": (
        "Search",
        _search(
            vectors=tensor_pb2.Tensor(
                shape=[1, DIMENSION], dtype=tensor_pb2.DTYPE_FLOAT32, data=b"\0" * 7
            )
        ),
        C.INVALID_ARGUMENT,
    ),
    "search-int64-vector": (
        "Search",
        _search(
            vectors=tensor_pb2.Tensor(
                shape=[1, DIMENSION], dtype=tensor_pb2.DTYPE_INT64, data=b"\1" * 8 * DIMENSION
            )
        ),
        C.INVALID_ARGUMENT,
    ),
    "search-texts-and-vectors": (
        "Search",
        _search(texts=["cat"], vectors=_vectors(ONES)),
        C.INVALID_ARGUMENT,
    ),
    "search-no-queries": ("Search", _search(), C.INVALID_ARGUMENT),
    "search-min-score-nan": (
        "Search",
        _search(texts=["cat"], min_score=math.nan),
        C.INVALID_ARGUMENT,
    ),
    "search-nested-filter": (
        "Search",
        _search(texts=["cat"], filter=struct({"a": {"b": 1}})),
        C.INVALID_ARGUMENT,
    ),
    "search-unknown-collection": (
        "Search",
        _search(collection="missing", texts=["cat"]),
        C.NOT_FOUND,
    ),
    "search-bad-collection-name": (
        "Search",
        _search(collection="../docs", texts=["cat"]),
        C.INVALID_ARGUMENT,
    ),
    "search-ef-below-k": (
        "Search",
        _search(texts=["cat"], params=pb.SearchParams(ef_search=1)),
        C.INVALID_ARGUMENT,
    ),
    "search-nprobe-0": (
        "Search",
        _search(texts=["cat"], params=pb.SearchParams(nprobe=0)),
        C.INVALID_ARGUMENT,
    ),
    "search-rerank-depth-over": (
        "Search",
        _search(texts=["cat"], rerank=pb.Rerank(depth=10**6)),
        {C.RESOURCE_EXHAUSTED, C.INVALID_ARGUMENT},
    ),
    "rerank-unknown-collection": (
        "Rerank",
        pb.RerankRequest(
            collection="missing", queries=[pb.RerankQuery(text="cat", ids=["base-1"])]
        ),
        C.NOT_FOUND,
    ),
    "rerank-unknown-id": (
        "Rerank",
        pb.RerankRequest(collection="docs", queries=[pb.RerankQuery(text="cat", ids=["nope"])]),
        C.NOT_FOUND,
    ),
    "rerank-no-queries": ("Rerank", pb.RerankRequest(collection="docs"), C.INVALID_ARGUMENT),
    "invalid-utf8-text": ("Encode", with_invalid_utf8(b"", (1, None), b"\xff"), C.INVALID_ARGUMENT),
    "invalid-utf8-id": (
        "Get",
        with_invalid_utf8(b"\n\x04docs", (2, None), b"\xc3\x28"),
        C.INVALID_ARGUMENT,
    ),
    "struct-too-deep": (
        "Upsert",
        length_delimited(1, b"docs")
        + length_delimited(
            2,
            (
                length_delimited(1, b"deep")
                + length_delimited(2, b"cat")
                + length_delimited(3, nested_struct(200))
            ),
        ),
        C.INVALID_ARGUMENT,
    ),
    "random-bytes": ("Search", b"\xff\xff\xff\xff\xff", C.INVALID_ARGUMENT),
    # Texts with nothing to embed (they all embedded as [CLS] [SEP], one shared vector).
    "encode-nul-only": ("Encode", pb.EncodeRequest(texts=["\x00\x00"]), C.INVALID_ARGUMENT),
    "encode-zero-width-only": (
        "Encode",
        pb.EncodeRequest(texts=["cat", "\u200b\ufeff\u2060"]),
        C.INVALID_ARGUMENT,
    ),
    "encode-combining-only": ("Encode", pb.EncodeRequest(texts=["\u0301" * 3]), C.INVALID_ARGUMENT),
    "encode-control-only": ("Encode", pb.EncodeRequest(texts=["\x01\x7f\x9f"]), C.INVALID_ARGUMENT),
    "encode-one-letter-among-them": (
        "Encode",
        pb.EncodeRequest(texts=["\x00\u200b c \u0301"]),
        C.OK,
    ),
    "tokens-zero-width-only": (
        "EncodeTokens",
        pb.EncodeTokensRequest(texts=["\u200b" * 50]),
        C.INVALID_ARGUMENT,
    ),
    "compare-combining-only": (
        "Compare",
        pb.CompareRequest(pairs=[pb.TextPair(a="cat", b="\u0301\u0302")]),
        C.INVALID_ARGUMENT,
    ),
    "upsert-nul-only-text": (
        "Upsert",
        pb.UpsertRequest(collection="docs", documents=[pb.Document(id="a", text="\x00")]),
        C.INVALID_ARGUMENT,
    ),
    "search-zero-width-text": ("Search", _search(texts=["\u200b\u200c"]), C.INVALID_ARGUMENT),
    "rerank-control-only": (
        "Rerank",
        pb.RerankRequest(collection="docs", queries=[pb.RerankQuery(text="\x01", ids=["base-1"])]),
        C.INVALID_ARGUMENT,
    ),
    # NUL in metadata and filters: SQLite's json_each cut at it ({"s": "a"} matched "a\0b").
    "upsert-nul-metadata-value": (
        "Upsert",
        pb.UpsertRequest(
            collection="docs",
            documents=[pb.Document(id="a", text="cat", metadata=struct({"s": "a\x00b"}))],
        ),
        C.INVALID_ARGUMENT,
    ),
    "upsert-nul-metadata-key": (
        "Upsert",
        pb.UpsertRequest(
            collection="docs",
            documents=[pb.Document(id="a", text="cat", metadata=struct({"x": {"k\x00": 1}}))],
        ),
        C.INVALID_ARGUMENT,
    ),
    "search-nul-filter": (
        "Search",
        _search(texts=["cat"], filter=struct({"s": "\x00"})),
        C.INVALID_ARGUMENT,
    ),
    # Filter keys: at most max_filter_keys (64); 991+ keys were UNAVAILABLE from SQLite.
    "search-64-filter-keys": (
        "Search",
        _search(texts=["cat"], filter=struct({f"k{i}": i for i in range(64)})),
        C.OK,
    ),
    "search-65-filter-keys": (
        "Search",
        _search(texts=["cat"], filter=struct({f"k{i}": i for i in range(65)})),
        C.RESOURCE_EXHAUSTED,
    ),
    "search-1000-filter-keys": (
        "Search",
        _search(texts=["cat"], filter=struct({f"k{i}": i for i in range(1000)})),
        C.RESOURCE_EXHAUSTED,
    ),
    "search-filter-1mb-value": (
        "Search",
        _search(texts=["cat"], filter=struct({"s": "x" * 1_000_000})),
        C.OK,
    ),
}


@pytest.mark.parametrize("case", sorted(NAMED))
def test_named_hostile_inputs(target: Target, case: str) -> None:
    rpc, request, expected = NAMED[case]
    target.check(rpc, request, expected if isinstance(expected, set) else {expected})


@pytest.mark.parametrize("rpc", RPCS)
def test_oversize_message_is_resource_exhausted(target: Target, rpc: str) -> None:
    padding = length_delimited(1000, b"x" * (MiB + 1))  # an unknown field: size is all that counts
    target.check(rpc, [padding] if rpc == "UpsertStream" else padding, {C.RESOURCE_EXHAUSTED})


@pytest.mark.parametrize("rpc", RPCS)
def test_expired_deadline_is_deadline_exceeded(target: Target, rpc: str) -> None:
    """A deadline of 0 or 1 µs: DEADLINE_EXCEEDED, unless the server answered before the
    client's deadline timer fired (grpc checks it at millisecond granularity): then the
    request's own answer. Never anything undocumented, and the server keeps serving."""
    request = [VALID[rpc]] if rpc == "UpsertStream" else VALID[rpc]
    codes = [target.call(rpc, request, timeout=timeout)[0] for timeout in (0.0, 1e-6) * 3]
    assert set(codes) <= DOCUMENTED, codes
    assert target.call("Info", pb.InfoRequest())[0] == C.OK
    EXPIRED[rpc] = sum(code == C.DEADLINE_EXCEEDED for code in codes)


EXPIRED: dict[str, int] = {}  # per RPC: how many of its 6 expired calls got DEADLINE_EXCEEDED
PAIR = pb.TextPair(a="a cat", b="a dog")
VALID: dict[str, Any] = {
    "Info": pb.InfoRequest(),
    "Encode": pb.EncodeRequest(texts=["cat"]),
    "EncodeTokens": pb.EncodeTokensRequest(texts=["cat"]),
    "Compare": pb.CompareRequest(pairs=[PAIR]),
    "CreateCollection": pb.CreateCollectionRequest(name="deadline"),
    "DescribeCollection": pb.DescribeCollectionRequest(name="docs"),
    "ListCollections": pb.ListCollectionsRequest(),
    "DropCollection": pb.DropCollectionRequest(name="deadline"),
    "Upsert": pb.UpsertRequest(collection="docs", documents=[pb.Document(id="t", text="cat")]),
    "UpsertStream": pb.UpsertRequest(collection="docs", documents=[pb.Document(id="t", text="a")]),
    "Get": pb.GetRequest(collection="docs", ids=["base-1"]),
    "Delete": pb.DeleteRequest(collection="docs", ids=["t"]),
    "Export": pb.ExportRequest(collection="docs"),
    "Search": _search(texts=["cat"]),
    "Rerank": pb.RerankRequest(
        collection="docs", queries=[pb.RerankQuery(text="cat", ids=["base-1"])]
    ),
    "Calibrate": pb.CalibrateRequest(name="docs"),
    "Classify": pb.ClassifyRequest(pairs=[PAIR]),
    "MinePairs": pb.MinePairsRequest(collection="docs", top_m=2),
}
