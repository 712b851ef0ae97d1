"""Error messages stay within what gRPC metadata carries, however large the request.

A status message travels in trailing metadata, which the client caps at 16 KiB by default; a
longer one reaches the client as RESOURCE_EXHAUSTED instead of the real status. Lists of ids
are cut to the first few and "and N more" where they are written, long quoted values are
shortened, and the server cuts any message to 2 KiB before it leaves.
"""

from __future__ import annotations

import grpc
import pytest

from simsearch.errors import first_few, quoted
from simsearch.server.rpc_decorators import MAX_STATUS_MESSAGE_BYTES, fit_status_message
from simsearch.v1 import simsearch_pb2 as pb

SUFFIX = " … (message truncated)"
CUT = len(SUFFIX.encode())


def _error(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=60)
    return info.value


def test_get_of_many_unknown_ids_names_a_few(stub) -> None:
    stub.CreateCollection(pb.CreateCollectionRequest(name="docs"), timeout=60)
    ids = [f"{i:03d}".ljust(64, "x") for i in range(256)]
    error = _error(stub.Get, pb.GetRequest(collection="docs", ids=ids))
    assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
    details = error.details()
    assert f"['{ids[0]}', '{ids[1]}', '{ids[2]}', '{ids[3]}', '{ids[4]}'] and 251 more" in details
    assert ids[5] not in details
    assert len(details.encode()) < 1024


def test_a_huge_index_string_is_invalid_argument(stub) -> None:
    index = "HNSW32," + "x" * 9_000
    error = _error(stub.CreateCollection, pb.CreateCollectionRequest(name="big", index=index))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert len(error.details().encode()) <= MAX_STATUS_MESSAGE_BYTES
    assert "index" in error.details()


def test_a_huge_collection_name_is_invalid_argument(stub) -> None:
    error = _error(stub.DescribeCollection, pb.DescribeCollectionRequest(name="é" * 100_000))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details().startswith("invalid collection name")


def test_a_long_message_is_cut_on_a_character_boundary() -> None:
    assert fit_status_message("short") == "short"
    exact = "a" * MAX_STATUS_MESSAGE_BYTES
    assert fit_status_message(exact) == exact
    for text in ("a" * 10_000, "é" * 10_000, "索" * 10_000, "a" + "😀" * 5_000):
        cut = fit_status_message(text)
        assert len(cut.encode()) <= MAX_STATUS_MESSAGE_BYTES
        assert len(cut.encode()) > MAX_STATUS_MESSAGE_BYTES - CUT - 4  # at most one character short
        assert cut.endswith(SUFFIX) and text.startswith(cut[: -len(SUFFIX)])


def test_quoting_helpers() -> None:
    assert quoted("abc") == "'abc'"
    long = quoted("y" * 9_000)
    assert long.startswith("'yyy") and long.endswith("... (9,000 characters)") and len(long) < 120
    assert first_few(["a", "b"]) == "['a', 'b']"
    assert first_few([str(i) for i in range(8)]) == "['0', '1', '2', '3', '4'] and 3 more"
