"""The servers of tests/scaleout, each started once for the whole session and stopped by pid.

- ``milvus_server_uri``: a real Milvus 2.3 standalone server (``support.milvus_server``); the
  Milvus backend's tests, the collection contract and the front-end tests share it (its etcd
  peer port is fixed, so two cannot run at once).
- ``ray_cluster``: ``ray start --head`` on 127.0.0.1 (``support.ray_cluster``), 4 logical CPUs,
  the path of its token in this process's environment so that the encoder connects.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from support.milvus_server import milvus_server_uri  # noqa: F401  (a session fixture)
from support.ray_cluster import RayCluster, start_ray_cluster


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    cluster = start_ray_cluster(num_cpus=4)
    # The token's path only: the Ray encoder turns token mode on when it connects, which
    # also works when Ray was imported (and its settings read) before this fixture ran.
    token = {"RAY_AUTH_TOKEN_PATH": cluster.environment["RAY_AUTH_TOKEN_PATH"]}
    saved = {name: os.environ.get(name) for name in token}
    os.environ.update(token)
    try:
        yield cluster
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        cluster.stop()
