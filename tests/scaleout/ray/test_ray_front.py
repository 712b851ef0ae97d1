"""Every encoding RPC through a front-end with 2 Ray Serve replicas equals the in-process
encoder's answer (float32: to 1e-5), and Info says where the model runs."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from simsearch.errors import InvalidArgumentError
from support.ray_fronts import REPLICAS, Front

from .texts import PAIRS, TEXTS, TOLERANCE


def test_info_reports_ray_and_its_replicas(ray_front: Front, local_front: Front) -> None:
    ray_model = ray_front.client.info().model
    local_model = local_front.client.info().model
    assert (ray_model.encoder, ray_model.replicas) == ("ray", REPLICAS)
    assert (local_model.encoder, local_model.replicas) == ("local", 1)
    assert ray_model.fingerprint == local_model.fingerprint
    assert ray_model.name == local_model.name
    assert ray_model.hidden_size == local_model.hidden_size
    assert ray_model.max_length == local_model.max_length


@pytest.mark.parametrize("pooling", ["pooler", "cls", "mean"])
def test_encode_equals_in_process(ray_front: Front, local_front: Front, pooling: str) -> None:
    for fronts_say in (
        lambda front: front.client.encode(TEXTS, pooling=pooling),
        lambda front: front.client.encode(pairs=PAIRS, pooling=pooling, normalize=True),
    ):
        remote, local = fronts_say(ray_front), fronts_say(local_front)
        assert remote.embeddings.shape == local.embeddings.shape
        np.testing.assert_allclose(remote.embeddings, local.embeddings, atol=TOLERANCE)


def test_encode_tokens_equals_in_process(ray_front: Front, local_front: Front) -> None:
    remote = ray_front.client.encode_tokens(TEXTS)
    local = local_front.client.encode_tokens(TEXTS)
    assert [r.tokens for r in remote] == [lo.tokens for lo in local]
    for r, lo in zip(remote, local, strict=True):
        np.testing.assert_array_equal(r.token_ids, lo.token_ids)
        np.testing.assert_allclose(r.embeddings, lo.embeddings, atol=TOLERANCE)


def test_compare_equals_in_process(ray_front: Front, local_front: Front) -> None:
    remote = ray_front.client.compare(PAIRS, maxsim=True, alpha=0.5)
    local = local_front.client.compare(PAIRS, maxsim=True, alpha=0.5)
    for name in ("scores", "maxsim", "hybrid"):
        np.testing.assert_allclose(getattr(remote, name), getattr(local, name), atol=TOLERANCE)


def test_search_equals_in_process(ray_front: Front, local_front: Front) -> None:
    name = f"ray-{uuid.uuid4().hex[:8]}"
    documents = [{"id": f"d{i}", "text": text} for i, text in enumerate(TEXTS)]
    for front in (ray_front, local_front):
        front.client.create_collection(name, pooling="mean", store_tokens=True)
        front.client.upsert(name, documents)
    try:
        for rerank in (False, True):
            remote = ray_front.client.search(name, ["a cat", "parks"], k=3, rerank=rerank)
            local = local_front.client.search(name, ["a cat", "parks"], k=3, rerank=rerank)
            for remote_hits, local_hits in zip(remote, local, strict=True):
                assert [h.id for h in remote_hits] == [h.id for h in local_hits]
                np.testing.assert_allclose(
                    [h.score for h in remote_hits], [h.score for h in local_hits], atol=TOLERANCE
                )
    finally:
        for front in (ray_front, local_front):
            front.client.drop_collection(name)


def test_too_long_input_is_invalid_argument_from_the_replica(ray_front: Front) -> None:
    """Raised on a replica (Encode) or in the front's admission (EncodeTokens): same error."""
    too_long = "word " * 500
    with pytest.raises(InvalidArgumentError, match="tokens"):
        ray_front.client.encode([too_long])
    with pytest.raises(InvalidArgumentError, match="tokens"):
        ray_front.client.encode_tokens(["fine", too_long])
    assert ray_front.client.encode([too_long], truncate=True).truncated == (0,)
