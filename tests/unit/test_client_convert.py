"""Client-side conversions: pooling names, documents and metadata, tensors, token offsets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simsearch.client import convert
from simsearch.errors import InvalidArgumentError, SimsearchError
from simsearch.types import Document, Pooling
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire import array_to_tensor


@pytest.mark.parametrize(
    ("value", "expected", "wire"),
    [
        ("pooler", Pooling.POOLER, pb.POOLING_POOLER),
        ("cls", Pooling.CLS, pb.POOLING_CLS),
        ("mean", Pooling.MEAN, pb.POOLING_MEAN),
        (" MEAN ", Pooling.MEAN, pb.POOLING_MEAN),
        (Pooling.CLS, Pooling.CLS, pb.POOLING_CLS),
    ],
)
def test_pooling_names_map_to_the_wire_and_back(value: Any, expected: Pooling, wire: int) -> None:
    assert convert.parse_pooling(value) is expected
    assert convert.pooling_to_wire(value) == wire
    assert convert.pooling_from_wire(convert.pooling_to_wire(value)) is expected


def test_unknown_pooling_is_rejected_locally_with_the_choices() -> None:
    with pytest.raises(InvalidArgumentError, match=r"'max'.*'pooler', 'cls', 'mean'"):
        convert.pooling_to_wire("max")


def test_unspecified_pooling_from_the_server_is_the_default() -> None:
    assert convert.pooling_from_wire(pb.POOLING_UNSPECIFIED) is Pooling.POOLER
    with pytest.raises(SimsearchError, match="unknown to this client"):
        convert.pooling_from_wire(42)  # type: ignore[arg-type]


def test_document_metadata_round_trips_with_integers_as_integers() -> None:
    metadata = {
        "year": 2012,
        "big": 2**53 - 1,
        "score": 0.5,
        "flag": True,
        "none": None,
        "tags": ["a", 3],
        "nested": {"n": 1, "语言": "中文"},
    }
    document = Document("id-1", "some text", metadata)
    wire = pb.Document.FromString(convert.document_to_wire(document).SerializeToString())
    back = convert.document_from_wire(wire)
    assert back == document
    assert type(back.metadata["year"]) is int
    assert type(back.metadata["tags"][1]) is int
    assert type(back.metadata["score"]) is float


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"text": "t"}, "missing 'id'"),
        ({"id": "x"}, "missing 'text'"),
        ({"id": 7, "text": "t"}, "'id' must be a string, got a number"),
        ({"id": "x", "text": None}, "'text' must be a string, got null"),
        ({"id": "x", "text": "t", "metadata": [1]}, "'metadata' must be an object, got an array"),
        ({"id": "x", "text": "t", "meta": {}}, r"unknown keys \['meta'\]"),
        ("just a string", "expected a document or a mapping, got str"),
    ],
)
def test_bad_documents_say_what_is_wrong(value: Any, reason: str) -> None:
    with pytest.raises(InvalidArgumentError, match=reason):
        convert.document_from_mapping(value)


def test_mappings_become_documents_and_documents_pass_through() -> None:
    document = Document("a", "b", {"k": 1})
    assert convert.document_from_mapping(document) is document
    assert convert.document_from_mapping({"id": "a", "text": "b"}) == Document("a", "b", {})
    assert convert.document_from_mapping({"id": "a", "text": "b", "metadata": None}).metadata == {}


def test_documents_are_batched_lazily_and_bad_items_named_by_index() -> None:
    items = ({"id": str(i), "text": "t"} for i in range(7))
    assert [len(b) for b in convert.document_batches(items, 3)] == [3, 3, 1]
    bad: list[Any] = [{"id": "0", "text": "t"}] * 4 + [{"id": "4"}]
    batches = convert.document_batches(bad, 2)
    assert len(next(batches)) == 2
    assert len(next(batches)) == 2
    with pytest.raises(InvalidArgumentError, match=r"documents\[4\]: missing 'text'"):
        next(batches)


def test_sentence_embeddings_are_decoded_without_a_copy() -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    response = pb.EncodeResponse(embeddings=array_to_tensor(array), truncated=[2])
    result = convert.sentence_embeddings(response)
    assert result.embeddings.dtype == np.float32
    assert result.embeddings.shape == (3, 4)
    np.testing.assert_array_equal(result.embeddings, array)
    assert not result.embeddings.flags.writeable  # a view over the message's bytes
    assert not result.embeddings.flags.owndata
    assert result.truncated == (2,)


def test_float16_tensors_are_widened_to_float32() -> None:
    array = np.array([[0.5, -1.0]], dtype=np.float16)
    decoded = convert.float32_array(array_to_tensor(array))
    assert decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, [[0.5, -1.0]])


def test_token_embeddings_offsets_are_n_by_2_int64() -> None:
    message = pb.TokenEmbeddings(
        embeddings=array_to_tensor(np.zeros((3, 4), dtype=np.float32)),
        tokens=["[CLS]", "hi", "[SEP]"],
        token_ids=[101, 7592, 102],
        starts=[0, 0, 0],
        ends=[0, 2, 0],
        special=[True, False, True],
        segments=[0, 0, 0],
        truncated=True,
    )
    tokens = convert.token_embeddings(message)
    assert tokens.offsets.dtype == np.int64
    np.testing.assert_array_equal(tokens.offsets, [[0, 0], [0, 2], [0, 0]])
    assert tokens.token_ids.dtype == np.int64
    assert tokens.special_mask.dtype == np.bool_
    assert tokens.special_mask.tolist() == [True, False, True]
    assert tokens.segment_ids.dtype == np.int64
    assert tokens.tokens == ("[CLS]", "hi", "[SEP]")
    assert tokens.truncated


def test_token_embeddings_of_no_tokens_keep_their_shapes() -> None:
    message = pb.TokenEmbeddings(embeddings=array_to_tensor(np.zeros((0, 4), dtype=np.float32)))
    tokens = convert.token_embeddings(message)
    assert tokens.offsets.shape == (0, 2)
    assert tokens.embeddings.shape == (0, 4)


def test_collection_and_server_info() -> None:
    info = convert.collection_info(
        pb.CollectionInfo(
            name="demo",
            pooling=pb.POOLING_MEAN,
            dimension=384,
            count=5,
            model_name="m",
            model_fingerprint="f",
            created_at=1.5,
            compatible=True,
        )
    )
    assert info.spec.pooling is Pooling.MEAN
    assert info.spec.index == "flat"  # empty on the wire means flat
    assert (info.spec.name, info.spec.dimension, info.count, info.created_at) == (
        "demo",
        384,
        5,
        1.5,
    )
    unknown = pb.Pooling.ValueType(42)  # from a newer server
    server = convert.server_info(
        pb.InfoResponse(
            poolings=[pb.POOLING_POOLER, unknown], version="1.0", model=pb.ModelInfo(name="m")
        )
    )
    assert server.poolings == [Pooling.POOLER]  # values unknown to this client are skipped
    assert server.model.name == "m"
    # An older server sends no encoder, replicas or store: it ran everything in one process.
    assert (server.model.encoder, server.model.replicas, server.store) == ("local", 1, "faiss")
    scaled = convert.server_info(
        pb.InfoResponse(
            model=pb.ModelInfo(name="m", encoder="ray", replicas=4), version="1.0", store="milvus"
        )
    )
    assert (scaled.model.encoder, scaled.model.replicas, scaled.store) == ("ray", 4, "milvus")


def test_query_vectors_take_one_or_many_rows() -> None:
    assert convert.query_vectors(np.ones(4)).shape == (1, 4)
    assert convert.query_vectors(np.ones(4)).dtype == np.float32
    assert convert.query_vectors(np.ones((3, 4), dtype=np.float64)).shape == (3, 4)
    with pytest.raises(InvalidArgumentError, match=r"\(d,\) or \(n, d\)"):
        convert.query_vectors(np.ones((2, 2, 2)))


def test_a_single_string_is_a_batch_of_one() -> None:
    assert convert.as_batch("abc", "ids") == ["abc"]
    assert convert.as_batch(("a", "b"), "ids") == ["a", "b"]
    with pytest.raises(InvalidArgumentError, match=r"ids\[1\] is int"):
        convert.as_batch(["a", 1], "ids")  # type: ignore[list-item]


def test_pairs_must_be_two_texts() -> None:
    assert convert.text_pairs([("a", "b")]) == [pb.TextPair(a="a", b="b")]
    for bad in (["ab"], [("a",)], [("a", "b", "c")], [("a", 1)]):
        with pytest.raises(InvalidArgumentError, match=r"pairs\[0\]"):
            convert.text_pairs(bad)  # type: ignore[arg-type]
