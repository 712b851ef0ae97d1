"""Failures on a real cluster end in documented codes, never INTERNAL: a replica killed under
load (UNAVAILABLE, then Serve restarts it), deadlines (DEADLINE_EXCEEDED), back-pressure
(RESOURCE_EXHAUSTED). A second front-end with the same settings joins the running replicas."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simsearch.client import Client
from simsearch.encoder import EncoderOptions
from simsearch.encoder.ray_serve import RayEncoder, load_ray_encoder
from simsearch.errors import DeadlineExceededError, LimitExceededError, UnavailableError
from simsearch.types import Pooling
from support.ray_cluster import RayCluster
from support.ray_fronts import REPLICAS, Front

from .texts import TEXTS, TOLERANCE

RECOVERY_S = 90.0  # Serve notices the death and starts a replica (loaded 2-core CI: slow)
# ~0.1 s of work per call on the tiny model: calls are in flight on every replica at any time.
LOAD = [f"sentence {i} with several words to make it long enough" for i in range(256)]


def _replica_pids(app: str, count: int) -> set[int]:
    """Pids of ``count`` distinct replicas of ``app``, asking until that many answered."""
    from ray import serve

    handle = serve.get_app_handle(app)
    pids: set[int] = set()
    expires = time.monotonic() + RECOVERY_S
    while len(pids) < count:
        assert time.monotonic() < expires, f"only replicas {pids} of {app} answered"
        pids.add(handle.describe.remote().result(timeout_s=RECOVERY_S).value.pid)
    return pids


def test_replica_killed_under_load_is_unavailable_then_recovers(
    ray_front: Front, local_front: Front
) -> None:
    pids = _replica_pids(ray_front.app, REPLICAS)
    victim = min(pids)
    errors: list[Exception] = []
    answered = 0
    stop = threading.Event()

    def load() -> None:
        nonlocal answered
        with Client(ray_front.client.address, timeout=60) as client:
            while not stop.is_set():
                try:
                    client.encode(LOAD)
                    answered += 1
                except Exception as exc:
                    errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    os.kill(victim, signal.SIGKILL)
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join()

    assert answered > 0
    assert all(isinstance(error, UnavailableError) for error in errors), errors
    assert all("unavailable" in str(error) for error in errors), errors
    # Serve starts a new replica in place of the dead one; the service answers as before.
    assert victim not in _replica_pids(ray_front.app, REPLICAS)
    np.testing.assert_allclose(
        ray_front.client.encode(TEXTS).embeddings,
        local_front.client.encode(TEXTS).embeddings,
        atol=TOLERANCE,
    )


def test_expired_deadline_is_deadline_exceeded(ray_front: Front) -> None:
    with (
        Client(ray_front.client.address, timeout=0.001) as hurried,
        pytest.raises(DeadlineExceededError),
    ):
        hurried.encode(TEXTS * 64)
    assert ray_front.client.encode(TEXTS).embeddings.shape[0] == len(TEXTS)


def _narrow(cluster: RayCluster, model_dir: Path, call_timeout_s: float = 300.0) -> RayEncoder:
    """One replica taking one request at a time with a queue of one: easy to saturate. The
    same settings join the same application (the call's time limit is the front's own)."""
    return load_ray_encoder(
        EncoderOptions(model=str(model_dir)),
        address=cluster.address,
        replicas=1,
        replica_cpus=0.5,
        max_ongoing_requests=1,
        max_queued_requests=1,
        call_timeout_s=call_timeout_s,
    )


@pytest.fixture(scope="module")
def narrow_encoder(ray_cluster: RayCluster, tiny_model_dir: Path) -> Iterator[RayEncoder]:
    """One replica taking one request at a time with a queue of one: easy to saturate."""
    from ray import serve

    encoder = _narrow(ray_cluster, tiny_model_dir)
    yield encoder
    serve.delete(encoder.app_name)
    encoder.close()


def test_a_second_front_end_joins_the_running_replicas(
    narrow_encoder: RayEncoder, ray_cluster: RayCluster, tiny_model_dir: Path
) -> None:
    before = narrow_encoder.describe_replica().pid
    second = _narrow(ray_cluster, tiny_model_dir)
    try:
        assert second.app_name == narrow_encoder.app_name
        assert second.describe_replica().pid == before  # not redeployed
        assert second.info == narrow_encoder.info
    finally:
        second.close()
    assert narrow_encoder.describe_replica().pid == before


def test_back_pressure_is_resource_exhausted(narrow_encoder: RayEncoder) -> None:
    texts = [f"text number {i} of a batch long enough to keep the replica busy" for i in range(600)]
    start = threading.Barrier(8)
    outcomes: list[Any] = []

    def call() -> None:
        start.wait()
        try:
            outcomes.append(
                narrow_encoder.encode(texts, Pooling.MEAN, normalize=True, truncate=False)
            )
        except Exception as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [o for o in outcomes if isinstance(o, LimitExceededError)]
    others = [o for o in outcomes if isinstance(o, Exception) and o not in refused]
    assert refused, outcomes
    assert not others, others
    assert "retry later" in str(refused[0])


def test_call_over_its_time_limit_is_deadline_exceeded(
    narrow_encoder: RayEncoder, ray_cluster: RayCluster, tiny_model_dir: Path
) -> None:
    hurried = _narrow(ray_cluster, tiny_model_dir, call_timeout_s=1e-4)
    try:
        with pytest.raises(DeadlineExceededError):
            hurried.encode(TEXTS * 64, Pooling.MEAN, normalize=True, truncate=False)
    finally:
        hurried.close()
