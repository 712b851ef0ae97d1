"""Classification on the Ray encoder without a cluster: the front sends one ``classify`` call
per batch, and a replica (the deployment's class, run in this process) answers with its
encoder's head, which its description (so the front's Info) carries."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simsearch.encoder import EncoderOptions, load_encoder
from simsearch.encoder.ray_replica import EncoderReplica, Reply
from simsearch.encoder.ray_serve import RayEncoder
from simsearch.encoder.ray_session import RaySession
from simsearch.errors import FailedPreconditionError
from simsearch.types import ModelInfo
from support.tiny_bert import NLI_LABELS, build_tiny_classifier

PAIRS = [("a man plays the guitar", "a man plays music"), ("the cat sat", "a dog runs")]


class Handle:
    """A deployment handle answering every call with ``reply`` at once; records calls."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, method: str) -> Any:
        handle = self

        class Response:
            def result(self, *, timeout_s: float) -> Reply:
                return handle.reply

            def cancel(self) -> None:
                pass

        class Method:
            def remote(self, *args: Any) -> Response:
                handle.calls.append((method, args))
                return Response()

        return Method()


def test_the_front_sends_one_classify_call_per_batch() -> None:
    handle = Handle(Reply("classified"))
    info = ModelInfo("tiny", "f" * 16, 32, 64, 100, encoder="ray")
    admission: Any = None
    encoder = RayEncoder(handle, "app", info, admission, RaySession("", False), 30.0)
    assert encoder.classify(PAIRS, truncate=True) == "classified"
    ((method, args),) = handle.calls
    assert method == "classify" and args == (PAIRS, True, 30.0)


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> EncoderReplica:
    directory = build_tiny_classifier(tmp_path_factory.mktemp("tiny-nli"))
    return EncoderReplica(EncoderOptions(model=str(directory), engine="torch"))


def test_a_replica_classifies_with_its_head(replica: EncoderReplica) -> None:
    description = asyncio.run(replica.describe()).value
    assert description.info.head is not None and description.info.head.labels == NLI_LABELS
    reply = asyncio.run(replica.classify(PAIRS, False, 30.0))
    assert reply.error is None
    local = load_encoder(description.options.model, engine="torch")
    try:
        expected = local.classify(PAIRS, truncate=False)
    finally:
        local.close()
    np.testing.assert_allclose(reply.value.logits, expected.logits, atol=1e-6)
    assert reply.value.labels == expected.labels


def test_a_replica_without_a_head_answers_failed_precondition(tiny_model_dir: Path) -> None:
    replica = EncoderReplica(EncoderOptions(model=str(tiny_model_dir), engine="torch"))
    reply = asyncio.run(replica.classify(PAIRS, False, 30.0))
    assert isinstance(reply.error, FailedPreconditionError)
