"""Stateless front-ends: two real ``simsearch serve`` processes over one Milvus and one Ray
cluster. A write one of them acknowledged is what the other reads next; either can stop
without the other noticing. No data directory is shared, and none is locked for collections.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import simsearch
from simsearch.client import Client
from simsearch.errors import DeadlineExceededError, NotFoundError
from support.ports import free_port
from support.ray_cluster import RayCluster
from support.serving import wait_serving

HOST = "127.0.0.1"
READY_S = 180.0  # the first front-end deploys the replicas; a loaded CI machine is slow
STOP_S = 30.0
DOCS = [
    {"id": "cat", "text": "a cat sat on the mat", "metadata": {"kind": "animal"}},
    {"id": "dog", "text": "a dog ran in the park", "metadata": {"kind": "animal"}},
    {"id": "stocks", "text": "stocks fell on monday", "metadata": {"kind": "news"}},
]


@dataclass
class FrontEnd:
    """One ``simsearch serve`` process, its log and a client to it."""

    process: subprocess.Popen[bytes]
    log: Path
    client: Client

    def stop(self) -> int:
        """SIGTERM (drain and exit); SIGKILL to the group if it is not gone in time."""
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()


def _start(name: str, tmp: Path, model_dir: Path, cluster: RayCluster, milvus_uri: str) -> FrontEnd:
    port = free_port()
    argv = [
        *(sys.executable, "-m", "simsearch.cli", "serve", "--host", HOST, "--port", str(port)),
        *("--model", str(model_dir), "--data-dir", str(tmp / name)),
        *("--engine", "torch", "--dtype", "float32", "--shutdown-grace", "2"),
        *("--encoder", "ray", "--ray-address", cluster.address, "--replicas", "1"),
        *("--store", "milvus", "--milvus-uri", milvus_uri),
    ]
    src = str(Path(simsearch.__file__).resolve().parents[1])
    env = {**os.environ, **cluster.environment}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    front = FrontEnd(process, log, Client(f"{HOST}:{port}", timeout=60))
    _wait_serving(front, port)
    return front


def _wait_serving(front: FrontEnd, port: int) -> None:
    def exited() -> None:
        if front.process.poll() is not None:
            pytest.fail(f"front-end exited ({front.process.returncode}):\n{_tail(front)}")

    try:
        wait_serving(f"{HOST}:{port}", READY_S, check=exited)
    except DeadlineExceededError:
        front.stop()
        pytest.fail(f"front-end not serving after {READY_S} s:\n{_tail(front)}")


def _tail(front: FrontEnd) -> str:
    return front.log.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def front_ends(
    ray_cluster: RayCluster,
    milvus_server_uri: str,
    tiny_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FrontEnd, FrontEnd]]:
    tmp = tmp_path_factory.mktemp("front-ends")
    first = _start("first", tmp, tiny_model_dir, ray_cluster, milvus_server_uri)
    try:
        second = _start("second", tmp, tiny_model_dir, ray_cluster, milvus_server_uri)
    except BaseException:
        first.stop()
        raise
    yield first, second
    for front in (first, second):
        front.stop()


def test_both_report_the_shared_tiers(front_ends: tuple[FrontEnd, FrontEnd]) -> None:
    infos = [front.client.info() for front in front_ends]
    for info in infos:
        assert (info.model.encoder, info.model.replicas, info.store) == ("ray", 1, "milvus")
    assert infos[0].model.fingerprint == infos[1].model.fingerprint
    texts = ["the same text through either front-end"]
    np.testing.assert_array_equal(
        front_ends[0].client.encode(texts).embeddings, front_ends[1].client.encode(texts).embeddings
    )


def test_an_acknowledged_write_is_what_the_other_front_end_reads_next(
    front_ends: tuple[FrontEnd, FrontEnd],
) -> None:
    first, second = (front.client for front in front_ends)
    first.create_collection("shared.notes", pooling="mean")
    assert "shared.notes" in [c.spec.name for c in second.list_collections()]

    first.upsert("shared.notes", DOCS)
    assert [d.text for d in second.get("shared.notes", ["stocks", "cat"])] == [
        "stocks fell on monday",
        "a cat sat on the mat",
    ]
    hits = second.search("shared.notes", "a cat on a mat", k=3, filter={"kind": "animal"})[0]
    assert {hit.id for hit in hits} == {"cat", "dog"}
    assert second.describe_collection("shared.notes").count == 3

    assert second.delete("shared.notes", ["cat"]) == 1
    assert {hit.id for hit in first.search("shared.notes", "a cat", k=3)[0]} == {"dog", "stocks"}
    with pytest.raises(NotFoundError, match="cat"):
        first.get("shared.notes", ["cat"])

    second.drop_collection("shared.notes")
    with pytest.raises(NotFoundError):
        first.describe_collection("shared.notes")


def test_streams_reranking_and_vector_queries_work_across_front_ends(
    front_ends: tuple[FrontEnd, FrontEnd],
) -> None:
    first, second = (front.client for front in front_ends)
    first.create_collection("shared.bulk", pooling="mean")
    many = [{"id": f"d{i}", "text": f"document number {i} about cats"} for i in range(300)]
    assert first.upsert_stream("shared.bulk", DOCS + many, batch_size=64).upserted == 303
    assert second.describe_collection("shared.bulk").count == 303

    # MaxSim on Milvus encodes the candidates (it stores no token matrices): the same scores
    # as the Rerank RPC over the same ids, through the other front-end.
    hits = second.search("shared.bulk", "a cat on a mat", k=2, rerank=True, depth=10)[0]
    assert hits[0].id == "cat"
    ranked = first.rerank("shared.bulk", [("a cat on a mat", [hit.id for hit in hits])])[0]
    assert [hit.id for hit in ranked] == [hit.id for hit in hits]
    np.testing.assert_allclose(
        [hit.maxsim_score for hit in ranked], [hit.maxsim_score for hit in hits], atol=1e-5
    )

    # A stored vector as the query finds its own document first.
    vector = second.get_embeddings("shared.bulk", ["stocks"])
    assert first.search("shared.bulk", vector, k=1)[0][0].id == "stocks"
    second.drop_collection("shared.bulk")


def test_one_front_end_stopping_leaves_the_other_serving(
    front_ends: tuple[FrontEnd, FrontEnd],
) -> None:
    first, second = front_ends
    second.client.create_collection("survivor")
    second.client.upsert("survivor", DOCS[:1])
    assert first.stop() == 0  # drained and exited cleanly
    assert [d.id for d in second.client.get("survivor", ["cat"])] == ["cat"]
    assert second.client.search("survivor", "a cat", k=1)[0][0].id == "cat"
    second.client.drop_collection("survivor")
