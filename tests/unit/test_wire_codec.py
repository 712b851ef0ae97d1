"""The codec's message pairs: for each type, ``x_from_wire(x_to_wire(value))`` gives back the
value, through serialized bytes as on a real call; UNSPECIFIED and unknown wire values."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from simsearch.errors import InvalidArgumentError
from simsearch.types import (
    AlignedTokens,
    Alignment,
    CollectionInfo,
    CollectionSpec,
    Document,
    Hit,
    Limits,
    MaxSimDirection,
    MaxSimOptions,
    ModelInfo,
    Pooling,
    RerankOptions,
    SearchParams,
    SentenceEmbeddings,
    TokenEmbeddings,
    TokenSelection,
)
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire import array_to_tensor
from simsearch.wire.alignments import alignment_from_wire, alignment_to_wire
from simsearch.wire.documents import (
    document_from_wire,
    document_to_wire,
    hit_from_wire,
    hit_to_wire,
    hits_from_wire,
    hits_to_wire,
)
from simsearch.wire.embeddings import (
    sentence_embeddings_from_wire,
    sentence_embeddings_to_wire,
    token_embeddings_from_wire,
    token_embeddings_to_wire,
)
from simsearch.wire.info import (
    collection_from_wire,
    collection_to_wire,
    limits_from_wire,
    limits_to_wire,
    model_from_wire,
    model_to_wire,
    poolings_to_wire,
)
from simsearch.wire.inputs import (
    inputs_from_wire,
    inputs_to_wire,
    pairs_from_wire,
    pairs_to_wire,
    queries_from_wire,
    queries_to_wire,
)
from simsearch.wire.options import (
    maxsim_from_wire,
    maxsim_to_wire,
    pooling_from_wire,
    pooling_to_wire,
    rerank_from_wire,
    rerank_to_wire,
    search_params_from_wire,
    search_params_to_wire,
)

METADATA = {
    "year": 2012,
    "big": 2**53 - 1,
    "score": 0.5,
    "flag": True,
    "none": None,
    "tags": ["a", 3],
    "nested": {"n": 1, "语言": "中文"},
}


def sent(message: Any) -> Any:
    """``message`` as the peer reads it: serialized, then parsed."""
    return type(message).FromString(message.SerializeToString())


def typed(value: Any) -> Any:
    """``value`` with each scalar paired with its type (``1 == 1.0 == True`` in Python)."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


def assert_same(back: Any, value: Any) -> None:
    """Dataclasses equal field by field, arrays by value, shape and dtype."""
    assert type(back) is type(value)
    if dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            assert_same(getattr(back, field.name), getattr(value, field.name))
    elif isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape
        np.testing.assert_array_equal(back, value)
    else:
        assert typed(back) == typed(value)


# -- documents and hits ----------------------------------------------------------------------


def test_document_round_trips_with_integers_as_integers() -> None:
    document = Document("id-1", "some text", METADATA)
    assert_same(document_from_wire(sent(document_to_wire(document))), document)
    assert_same(document_from_wire(sent(document_to_wire(Document("a", "b")))), Document("a", "b"))


@pytest.mark.parametrize(
    "hit",
    [
        Hit("d1", 0.5, "text", METADATA, sentence_score=0.25, maxsim_score=0.75),
        Hit("d2", -0.125, "", {}, sentence_score=-0.125),
    ],
)
def test_hit_round_trips(hit: Hit) -> None:
    assert_same(hit_from_wire(sent(hit_to_wire(hit))), hit)


def test_a_hit_without_sentence_score_comes_back_with_its_score_as_one() -> None:
    back = hit_from_wire(sent(hit_to_wire(Hit("d", 0.5, "t"))))
    assert (back.score, back.sentence_score, back.cosine, back.maxsim_score) == (
        0.5,
        0.5,
        0.5,
        None,
    )


def test_rows_of_hits_round_trip_in_order() -> None:
    rows = [[Hit("a", 0.5, "x", sentence_score=0.5), Hit("b", 0.25, "y", sentence_score=0.25)], []]
    response = sent(pb.SearchResponse(results=hits_to_wire(rows)))
    assert hits_from_wire(response.results) == rows


# -- inputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("inputs", [["a", "b"], [("a", "b"), ("c", "")], []])
def test_inputs_round_trip(inputs: list[Any]) -> None:
    texts, pairs = inputs_to_wire(inputs)
    request = sent(pb.EncodeRequest(texts=texts, pairs=pairs))
    assert inputs_from_wire(request.texts, request.pairs) == inputs
    assert pairs_from_wire(pairs_to_wire([("a", "b")])) == [("a", "b")]


def test_texts_and_pairs_together_are_refused_both_ways() -> None:
    with pytest.raises(InvalidArgumentError, match="either texts or pairs, not both"):
        inputs_to_wire(["a", ("b", "c")])
    with pytest.raises(InvalidArgumentError, match="either texts or pairs, not both"):
        inputs_from_wire(["a"], [pb.TextPair(a="b", b="c")])


def test_query_texts_round_trip() -> None:
    request = pb.SearchRequest()
    queries_to_wire(["q1", "q2"], request)
    assert queries_from_wire(sent(request)) == ["q1", "q2"]


def test_query_vectors_round_trip_as_a_read_only_view_of_the_message() -> None:
    vectors = np.arange(8, dtype=np.float32).reshape(2, 4)
    request = pb.SearchRequest()
    queries_to_wire(vectors, request)
    back = queries_from_wire(sent(request))
    assert isinstance(back, np.ndarray)
    assert_same(back, vectors)
    assert not back.flags.writeable and not back.flags.owndata  # no copy of the bytes


def test_float16_query_vectors_are_widened_and_int64_refused() -> None:
    request = pb.SearchRequest(vectors=array_to_tensor(np.ones((1, 2), np.float16)))
    back = queries_from_wire(request)
    assert isinstance(back, np.ndarray) and back.dtype == np.float32
    request = pb.SearchRequest(vectors=array_to_tensor(np.ones((1, 2), np.int64)))
    with pytest.raises(InvalidArgumentError, match="query vectors must be float32 or float16"):
        queries_from_wire(request)


def test_query_texts_and_vectors_together_are_refused() -> None:
    request = pb.SearchRequest(texts=["q"], vectors=array_to_tensor(np.ones((1, 2), np.float32)))
    with pytest.raises(InvalidArgumentError, match="either texts or vectors, not both"):
        queries_from_wire(request)


# -- embeddings and alignments ---------------------------------------------------------------


def test_sentence_embeddings_round_trip_without_a_copy() -> None:
    embeddings = SentenceEmbeddings(np.arange(12, dtype=np.float32).reshape(3, 4), (2,))
    back = sentence_embeddings_from_wire(sent(sentence_embeddings_to_wire(embeddings)))
    assert_same(back, embeddings)
    assert not back.embeddings.flags.writeable and not back.embeddings.flags.owndata


def _token_embeddings(n: int, unknown: int = 0) -> TokenEmbeddings:
    rng = np.random.default_rng(n)
    return TokenEmbeddings(
        embeddings=rng.standard_normal((n, 4)).astype(np.float32),
        tokens=tuple(f"t{i}" for i in range(n)),
        token_ids=np.arange(100, 100 + n, dtype=np.int64),
        offsets=np.stack([np.arange(n), np.arange(n) + 1], axis=1).astype(np.int64),
        special_mask=np.arange(n) % 2 == 0,
        segment_ids=(np.arange(n) >= n // 2).astype(np.int64),
        truncated=bool(n % 2),
        unknown_tokens=unknown,
    )


@pytest.mark.parametrize(("n", "unknown"), [(5, 3), (0, 0), (1, 0)])
def test_token_embeddings_round_trip(n: int, unknown: int) -> None:
    item = _token_embeddings(n, unknown)
    back = token_embeddings_from_wire(sent(token_embeddings_to_wire(item)))
    assert_same(back, item)
    assert back.offsets.shape == (n, 2)


def _side(n: int) -> AlignedTokens:
    offsets = np.stack([np.arange(n), np.arange(n) + 2], axis=1).astype(np.int64)
    return AlignedTokens(tuple(f"w{i}" for i in range(n)), offsets, np.arange(n) > 0)


@pytest.mark.parametrize("with_matrix", [True, False])
def test_alignment_round_trips(with_matrix: bool) -> None:
    matrix = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    alignment = Alignment(
        a=_side(2),
        b=_side(3),
        a_to_b=np.array([-1, 2], np.int64),
        a_to_b_similarity=np.array([0.0, 0.5], np.float32),
        b_to_a=np.array([-1, 1, 1], np.int64),
        b_to_a_similarity=np.array([0.0, 0.25, -0.5], np.float32),
        similarity=matrix if with_matrix else None,
    )
    assert_same(alignment_from_wire(sent(alignment_to_wire(alignment))), alignment)


# -- descriptions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "poolings", [(Pooling.POOLER, Pooling.CLS, Pooling.MEAN), (Pooling.CLS, Pooling.MEAN)]
)
def test_model_info_round_trips_with_its_poolings(poolings: tuple[Pooling, ...]) -> None:
    model = ModelInfo(
        name="m",
        fingerprint="f",
        hidden_size=384,
        max_length=256,
        vocab_size=30522,
        device="cpu",
        precision="int8",
        threads=2,
        engine="openvino",
        encoder="ray",
        replicas=3,
        poolings=poolings,
    )
    response = sent(
        pb.InfoResponse(model=model_to_wire(model), poolings=poolings_to_wire(poolings))
    )
    assert model_from_wire(response.model, response.poolings) == model


def test_model_info_from_an_older_server_gets_the_defaults() -> None:
    unknown = pb.Pooling.ValueType(42)  # from a newer server: left out
    model = model_from_wire(pb.ModelInfo(name="m"), [pb.POOLING_CLS, unknown])
    assert model.poolings == (Pooling.CLS,)
    assert (model.precision, model.engine, model.encoder, model.replicas) == (
        "float32",
        "torch",
        "local",
        1,
    )


def test_limits_round_trip() -> None:
    limits = Limits(
        max_batch=8,
        max_k=20,
        max_text_chars=500,
        max_message_bytes=2**33,
        max_rerank_depth=70,
        max_concurrent_rpcs=5,
        max_queue_depth=9,
        stream_idle_timeout_s=2.5,
        max_filter_keys=3,
    )
    assert limits_from_wire(sent(limits_to_wire(limits))) == limits


@pytest.mark.parametrize("unavailable", ["", "its store is missing"])
def test_collection_info_round_trips(unavailable: str) -> None:
    spec = CollectionSpec("demo", Pooling.MEAN, "HNSW32", 384, "m", "f", store_tokens=True)
    info = CollectionInfo(spec, 5, 1.5, compatible=False, unavailable=unavailable)
    assert collection_from_wire(sent(collection_to_wire(info))) == info


def test_an_empty_index_on_the_wire_is_flat() -> None:
    assert collection_from_wire(pb.CollectionInfo(name="x")).spec.index == "flat"


# -- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pooling", list(Pooling))
def test_pooling_round_trips(pooling: Pooling) -> None:
    assert pooling_from_wire(sent(pb.EncodeRequest(pooling=pooling_to_wire(pooling))).pooling) is (
        pooling
    )


def test_unspecified_options_are_the_defaults() -> None:
    assert pooling_from_wire(pb.POOLING_UNSPECIFIED) is Pooling.POOLER
    assert maxsim_from_wire(pb.MaxSim()) == MaxSimOptions()
    assert rerank_from_wire(pb.Rerank()) == RerankOptions()
    assert search_params_from_wire(pb.SearchParams()) == SearchParams()


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (pb.EncodeRequest(pooling=42), "unknown pooling 42: use POOLING_POOLER"),  # type: ignore[arg-type]
        (pb.MaxSim(direction=42), "unknown MaxSim direction 42"),  # type: ignore[arg-type]
        (pb.MaxSim(tokens=42), "unknown token selection 42"),  # type: ignore[arg-type]
    ],
)
def test_unknown_enum_values_are_refused(message: Any, error: str) -> None:
    with pytest.raises(InvalidArgumentError, match=error):
        if isinstance(message, pb.EncodeRequest):
            pooling_from_wire(message.pooling)
        else:
            maxsim_from_wire(message)


@pytest.mark.parametrize("direction", list(MaxSimDirection))
@pytest.mark.parametrize("tokens", list(TokenSelection))
@pytest.mark.parametrize("alpha", [None, 0.0, 0.25])
def test_maxsim_and_rerank_options_round_trip(
    direction: MaxSimDirection, tokens: TokenSelection, alpha: float | None
) -> None:
    options = MaxSimOptions(direction, tokens, alpha)
    assert maxsim_from_wire(sent(maxsim_to_wire(options))) == options
    rerank = RerankOptions(depth=7, maxsim=options)
    assert rerank_from_wire(sent(rerank_to_wire(rerank))) == rerank


@pytest.mark.parametrize(
    "params",
    [SearchParams(), SearchParams(ef_search=64), SearchParams(nprobe=0), SearchParams(8, 2)],
)
def test_search_params_round_trip(params: SearchParams) -> None:
    assert search_params_from_wire(sent(search_params_to_wire(params))) == params
