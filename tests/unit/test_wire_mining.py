"""Mined pairs and stored-id queries on the wire: round trips, and two kinds of query in one
search refused (by the codec) with a message naming both."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.client.shaping import search_queries
from simsearch.errors import InvalidArgumentError
from simsearch.types import ScoredPair, StoredIds
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire import array_to_tensor
from simsearch.wire.inputs import queries_from_wire, queries_to_wire
from simsearch.wire.mining import mined_from_wire, mined_to_wire


def _sent(message: pb.MinePairsResponse) -> pb.MinePairsResponse:
    return pb.MinePairsResponse.FromString(message.SerializeToString())


def test_pairs_and_progress_round_trip() -> None:
    pairs = [ScoredPair("a", "b", 0.5, 0.25, 0.75), ScoredPair("é", "中", -0.5, -0.5)]
    back, done, total = mined_from_wire(_sent(mined_to_wire(pairs, 3, 10)))
    assert back == pairs and (done, total) == (3, 10)
    assert back[1].maxsim_score is None
    assert mined_from_wire(_sent(mined_to_wire([], 7, 7))) == ([], 7, 7)


def test_stored_ids_round_trip() -> None:
    request = pb.SearchRequest()
    queries_to_wire(StoredIds(("x", "y")), request)
    assert queries_from_wire(pb.SearchRequest.FromString(request.SerializeToString())) == (
        StoredIds(("x", "y"))
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"texts": ["q"], "ids": ["a"]}, "either texts or ids, not both"),
        ({"vectors": True, "ids": ["a"]}, "either vectors or ids, not both"),
        ({"texts": ["q"], "vectors": True, "ids": ["a"]}, "not all three"),
    ],
)
def test_two_kinds_of_query_are_refused(fields: dict[str, object], message: str) -> None:
    if fields.pop("vectors", False):
        fields["vectors"] = array_to_tensor(np.ones((1, 2), np.float32))
    with pytest.raises(InvalidArgumentError, match=message):
        queries_from_wire(pb.SearchRequest(**fields))  # type: ignore[arg-type]


def test_client_takes_queries_or_ids() -> None:
    assert search_queries(None, "a") == StoredIds(("a",))
    assert search_queries("q", None) == ["q"]
    assert search_queries(np.ones(3), None).shape == (1, 3)  # type: ignore[union-attr]
    with pytest.raises(InvalidArgumentError, match="not both"):
        search_queries("q", ["a"])
    with pytest.raises(InvalidArgumentError, match="give queries"):
        search_queries(None, None)
