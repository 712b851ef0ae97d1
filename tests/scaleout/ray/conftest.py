"""One real Ray cluster for the session, and two gRPC front-ends over the tiny BERT.

- ``ray_cluster`` (``tests/scaleout/conftest.py``): the session's real Ray cluster.
- ``ray_front``: the real server with ``encoder="ray"`` and 2 replicas on that cluster, float32
  torch (exact), and the Serve application its replicas belong to.
- ``local_front``: the same server with the model in-process: the reference every RPC through
  the replicas must equal.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from simsearch.client import Client
from simsearch.config import ServerConfig
from simsearch.server import RunningServer, build_engine, create_server
from support.ray_cluster import RayCluster
from support.ray_fronts import REPLICAS, Front


def _config(model_dir: Path, data_dir: Path, **settings: object) -> ServerConfig:
    cache = os.environ.get("SIMSEARCH_MODEL_CACHE_DIR")  # tests/conftest.py: one per session
    return ServerConfig(
        host="127.0.0.1",
        port=0,
        model=str(model_dir),
        data_dir=data_dir,
        model_cache_dir=Path(cache) if cache else None,
        engine="torch",
        dtype="float32",
        **settings,  # type: ignore[arg-type]
    )


def _start(config: ServerConfig) -> RunningServer:
    running = create_server(config, build_engine(config))
    running.set_serving(True)
    return running


@pytest.fixture(scope="session")
def ray_front(
    ray_cluster: RayCluster, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Front]:
    config = _config(
        tiny_model_dir,
        tmp_path_factory.mktemp("ray-front"),
        encoder="ray",
        ray_address=ray_cluster.address,
        replicas=REPLICAS,
    )
    before = _encoder_apps()
    running = _start(config)
    apps = _encoder_apps() - before
    assert len(apps) == 1, apps
    client = Client(f"127.0.0.1:{running.port}", timeout=60)
    yield Front(running, client, apps.pop())
    client.close()
    running.stop(grace=1.0)


def _encoder_apps() -> set[str]:
    """The encoder applications on the cluster (none known before this process connects)."""
    import ray
    from ray import serve

    from simsearch.encoder.ray_serve import APP_PREFIX

    if not ray.is_initialized():
        return set()
    return {name for name in serve.status().applications if name.startswith(APP_PREFIX)}


@pytest.fixture(scope="session")
def local_front(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    running = _start(_config(tiny_model_dir, tmp_path_factory.mktemp("local-front")))
    client = Client(f"127.0.0.1:{running.port}", timeout=60)
    yield Front(running, client)
    client.close()
    running.stop(grace=1.0)
