"""``Client`` against a fake servicer over real gRPC: requests it builds, results it returns,
and every status code turned into the exception of ``simsearch.errors``."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import numpy as np
import pytest

from simsearch import errors
from simsearch.client import Client, Document, Hit, Pooling, ServerUnreachableError
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire import struct_to_dict, tensor_to_array
from unit.client_fakes import DIMENSION, FakeSimSearch, closed_port_address, running


@pytest.fixture
def fake() -> FakeSimSearch:
    return FakeSimSearch()


@pytest.fixture
def client(fake: FakeSimSearch) -> Iterator[Client]:
    with running(fake) as address, Client(address, timeout=5) as client:
        yield client


# -- status codes ----------------------------------------------------------------------------

MAPPED = [
    (grpc.StatusCode.INVALID_ARGUMENT, errors.InvalidArgumentError),
    (grpc.StatusCode.NOT_FOUND, errors.NotFoundError),
    (grpc.StatusCode.ALREADY_EXISTS, errors.AlreadyExistsError),
    (grpc.StatusCode.FAILED_PRECONDITION, errors.FailedPreconditionError),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.LimitExceededError),
    (grpc.StatusCode.UNAUTHENTICATED, errors.UnauthenticatedError),
    (grpc.StatusCode.PERMISSION_DENIED, errors.PermissionDeniedError),
    (grpc.StatusCode.UNAVAILABLE, errors.UnavailableError),
    (grpc.StatusCode.DEADLINE_EXCEEDED, errors.DeadlineExceededError),
    (grpc.StatusCode.INTERNAL, errors.InternalError),
]


@pytest.mark.parametrize(("code", "error"), MAPPED)
def test_status_codes_become_the_matching_exception(
    fake: FakeSimSearch, client: Client, code: grpc.StatusCode, error: type[Exception]
) -> None:
    fake.fail("DescribeCollection", code, "what went wrong")
    with pytest.raises(error) as raised:
        client.describe_collection("demo")
    assert type(raised.value) is error
    assert str(raised.value) == "what went wrong"
    assert raised.value.__cause__ is None  # no grpc.RpcError in the chain
    assert raised.value.__suppress_context__


def test_unmapped_codes_become_simsearch_error_named_by_code(
    fake: FakeSimSearch, client: Client
) -> None:
    fake.fail("Info", grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
    with pytest.raises(errors.SimsearchError) as raised:
        client.info()
    assert type(raised.value) is errors.SimsearchError
    assert str(raised.value) == "UNIMPLEMENTED: Method not found!"


def test_an_unreachable_server_says_so() -> None:
    address = closed_port_address()
    with Client(address, timeout=5) as client, pytest.raises(ServerUnreachableError) as raised:
        client.info()
    assert isinstance(raised.value, errors.UnavailableError)
    assert f"cannot reach simsearch at {address}" in str(raised.value)


def test_a_server_that_is_starting_is_unavailable_not_unreachable(
    fake: FakeSimSearch, client: Client
) -> None:
    fake.fail("Info", grpc.StatusCode.UNAVAILABLE, "the model is still loading")
    with pytest.raises(errors.UnavailableError) as raised:
        client.info()
    assert not isinstance(raised.value, ServerUnreachableError)


def test_the_timeout_is_a_deadline(fake: FakeSimSearch) -> None:
    fake.delay = 0.5
    with (
        running(fake) as address,
        Client(address, timeout=0.05) as client,
        pytest.raises(errors.DeadlineExceededError),
    ):
        client.list_collections()


def test_messages_over_max_message_bytes_are_refused(fake: FakeSimSearch) -> None:
    with (
        running(fake) as address,
        Client(address, max_message_bytes=1024) as client,
        pytest.raises(errors.LimitExceededError),
    ):
        client.encode("x" * 4096)
    assert fake.sent("Encode") == []


# -- requests and results --------------------------------------------------------------------

FIRST_METADATA = {"year": 2012, "lang": "en"}  # of the fake's first hit


def test_info(client: Client) -> None:
    info = client.info()
    assert info.version == "9.9.9"
    assert info.model.name == "tiny-bert"
    assert info.model.hidden_size == DIMENSION
    assert info.poolings == [Pooling.POOLER, Pooling.CLS, Pooling.MEAN]
    assert info.limits.max_batch == 8


def test_encode_sends_pooling_and_flags(fake: FakeSimSearch, client: Client) -> None:
    result = client.encode(["a", "b LONG"], pooling="mean", normalize=True, truncate=True)
    (request,) = fake.sent("Encode")
    assert list(request.texts) == ["a", "b LONG"]
    assert request.pooling == pb.POOLING_MEAN
    assert request.normalize
    assert request.truncate
    assert result.embeddings.shape == (2, DIMENSION)
    assert result.embeddings.dtype == np.float32
    assert result.truncated == (1,)


def test_encode_takes_one_text_or_pairs_but_not_both(fake: FakeSimSearch, client: Client) -> None:
    assert client.encode("one").embeddings.shape == (1, DIMENSION)
    client.encode(pairs=[("a", "b")], pooling=Pooling.CLS)
    request = fake.sent("Encode")[-1]
    assert list(request.pairs) == [pb.TextPair(a="a", b="b")]
    assert request.pooling == pb.POOLING_CLS
    with pytest.raises(errors.InvalidArgumentError, match="either texts or pairs"):
        client.encode(["a"], pairs=[("a", "b")])
    with pytest.raises(errors.InvalidArgumentError, match="either texts or pairs"):
        client.encode()
    with pytest.raises(errors.InvalidArgumentError, match="unknown pooling"):
        client.encode("a", pooling="max")
    assert len(fake.sent("Encode")) == 2


def test_encode_tokens(client: Client) -> None:
    (tokens,) = client.encode_tokens("Hello  world")
    assert tokens.tokens == ("[CLS]", "hello", "world", "[SEP]")
    np.testing.assert_array_equal(tokens.offsets, [[0, 0], [0, 5], [7, 12], [0, 0]])
    assert tokens.embeddings.shape == (4, DIMENSION)
    (pair,) = client.encode_tokens(pairs=[("a", "b c")])
    assert pair.segment_ids.tolist() == [0, 0, 0, 1, 1, 1]


def test_compare(fake: FakeSimSearch, client: Client) -> None:
    result = client.compare([("a", "b"), ("c", "d")], pooling="cls", truncate=True)
    assert result.scores.dtype == np.float32
    np.testing.assert_allclose(result.scores, [0.25, 0.5])
    assert result.truncated == (0,)
    assert fake.sent("Compare")[0].pooling == pb.POOLING_CLS


def test_collections(fake: FakeSimSearch, client: Client) -> None:
    created = client.create_collection("demo", pooling="mean", index="HNSW32")
    request = fake.sent("CreateCollection")[0]
    assert (request.name, request.pooling, request.index) == ("demo", pb.POOLING_MEAN, "HNSW32")
    assert created.spec.pooling is Pooling.MEAN
    assert created.spec.index == "HNSW32"
    assert client.describe_collection("old").compatible is False
    assert [c.spec.name for c in client.list_collections()] == ["alpha", "beta"]
    client.drop_collection("demo")
    assert fake.sent("DropCollection")[0].name == "demo"


def test_upsert_sends_batches_and_maps_truncated_indices_to_ids(
    fake: FakeSimSearch, client: Client
) -> None:
    documents = [
        Document(f"doc-{i}", "LONG text" if i in (1, 4) else "text", {"i": i}) for i in range(7)
    ]
    done: list[int] = []
    result = client.upsert(
        "demo", iter(documents), truncate=True, batch_size=3, progress=done.append
    )
    requests = fake.sent("Upsert")
    assert [len(r.documents) for r in requests] == [3, 3, 1]
    assert all(r.collection == "demo" and r.truncate for r in requests)
    assert struct_to_dict(requests[1].documents[2].metadata) == {"i": 5}
    assert done == [3, 3, 1]
    assert result.upserted == 7
    assert result.truncated == ("doc-1", "doc-4")


def test_upsert_names_the_bad_document_and_sends_nothing_of_its_batch(
    fake: FakeSimSearch, client: Client
) -> None:
    documents = [{"id": "a", "text": "t"}, {"id": "b", "text": "t"}, {"id": "c"}]
    with pytest.raises(errors.InvalidArgumentError, match=r"documents\[2\]: missing 'text'"):
        client.upsert("demo", documents, batch_size=2)
    assert [len(r.documents) for r in fake.sent("Upsert")] == [2]
    with pytest.raises(errors.InvalidArgumentError, match="batch_size"):
        client.upsert("demo", documents, batch_size=0)


def test_a_failed_upsert_batch_says_how_many_were_stored(
    fake: FakeSimSearch, client: Client
) -> None:
    fake.fail("Upsert", grpc.StatusCode.INVALID_ARGUMENT, "documents[1]: empty text", after=2)
    documents = [Document(str(i), "t") for i in range(10)]
    with pytest.raises(errors.InvalidArgumentError) as raised:
        client.upsert("demo", documents, batch_size=4)
    assert str(raised.value) == (
        "upsert stopped after 8 documents were stored; documents[8:10] failed: "
        "documents[1]: empty text"
    )


def test_upsert_of_nothing_sends_nothing(fake: FakeSimSearch, client: Client) -> None:
    assert client.upsert("demo", []).upserted == 0
    assert fake.sent("Upsert") == []


def test_get_delete_and_embeddings(fake: FakeSimSearch, client: Client) -> None:
    assert client.get("demo", ["x", "y"]) == [
        Document("x", "text of x", {"n": 7}),
        Document("y", "text of y", {"n": 7}),
    ]
    assert client.get("demo", "xyz") == [Document("xyz", "text of xyz", {"n": 7})]
    embeddings = client.get_embeddings("demo", ["x", "y", "z"])
    assert embeddings.shape == (3, DIMENSION)
    assert fake.sent("Get")[-1].include_embeddings
    assert client.delete("demo", ["d1", "d2", "other"]) == 2


def test_search_by_text(fake: FakeSimSearch, client: Client) -> None:
    results = client.search("demo", "a query", k=2, filter=FIRST_METADATA)
    (request,) = fake.sent("Search")
    assert list(request.texts) == ["a query"]
    assert request.k == 2
    assert struct_to_dict(request.filter) == FIRST_METADATA
    assert not request.HasField("min_score")
    assert len(results) == 1  # one query, one list of hits
    first = results[0][0]
    assert isinstance(first, Hit)
    assert (first.id, first.text, first.metadata) == ("d1", "the first document", FIRST_METADATA)
    assert first.score == pytest.approx(0.9)
    assert [hit.id for hit in results[0]] == ["d1", "d2"]


def test_search_by_vectors_and_min_score(fake: FakeSimSearch, client: Client) -> None:
    results = client.search("demo", np.ones(DIMENSION, dtype=np.float64), min_score=0.0)
    request = fake.sent("Search")[-1]
    assert request.HasField("min_score")
    assert request.min_score == 0.0
    vectors = tensor_to_array(request.vectors)
    assert vectors.shape == (1, DIMENSION)
    assert vectors.dtype == np.float32
    assert len(results) == 1
    assert len(client.search("demo", np.ones((3, DIMENSION)), k=1)) == 3
    assert len(client.search("demo", ["q1", "q2"])) == 2


def test_search_rejects_queries_of_the_wrong_kind(client: Client) -> None:
    with pytest.raises(errors.InvalidArgumentError, match=r"queries\[0\] is float"):
        client.search("demo", [0.1, 0.2])  # type: ignore[list-item]
    with pytest.raises(errors.InvalidArgumentError, match="must be numbers"):
        client.search("demo", np.array(["not", "vectors"]))


# -- the channel -----------------------------------------------------------------------------


def test_a_channel_passed_in_is_not_closed(fake: FakeSimSearch) -> None:
    with running(fake) as address:
        channel = grpc.insecure_channel(address)
        with Client(address, channel=channel) as client:
            client.info()
        Client(channel=channel).list_collections()  # still open
        channel.close()


def test_an_empty_address_is_refused() -> None:
    with pytest.raises(errors.InvalidArgumentError, match="address is empty"):
        Client(" ")


def test_close_twice_is_harmless(fake: FakeSimSearch) -> None:
    with running(fake) as address:
        client = Client(address)
        client.close()
        client.close()
        assert repr(client) == f"Client({address!r})"
