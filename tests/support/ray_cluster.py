"""A real local Ray cluster for tests and benchmarks, started once and stopped by its pid.

``ray start --head --block`` runs in its own process group, with its node address 127.0.0.1,
every port it opens picked free (other Ray clusters may run on the machine at the same time),
no dashboard and no usage reporting, in a temporary directory of its own. Ray's GCS listens on
every interface whatever the node address, so the cluster requires a token of its own (Ray's
token authentication; the token lives in that directory): a process connects with
:attr:`RayCluster.environment` in its environment (``RAY_AUTH_MODE``, ``RAY_AUTH_TOKEN_PATH``).
:meth:`RayCluster.stop` ends the whole group (SIGTERM, a short drain, then SIGKILL) and removes
the directory.

    with ray_cluster(num_cpus=4) as cluster:
        os.environ.update(cluster.environment)
        load_ray_encoder(options, address=cluster.address, replicas=2)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support.ports import free_ports

__all__ = ["RayCluster", "ray_cluster", "start_ray_cluster"]

_STARTED = "Ray runtime started"
_WORKER_PORTS = 64  # one per worker process alive at once (replicas, Serve's controller ...)


@dataclass
class RayCluster:
    """A running head node: connect with ``ray.init(address=cluster.address)``."""

    address: str
    process: subprocess.Popen[bytes]
    temp_dir: Path
    log: Path
    environment: dict[str, str]

    def stop(self, drain_s: float = 2.0) -> None:
        """End the head and every process it started (its process group). Idempotent."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=drain_s)
            # Workers and the raylet may outlive `ray start` itself by a moment.
            time.sleep(0.5)
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=drain_s)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def start_ray_cluster(*, num_cpus: int = 4, timeout_s: float = 120.0) -> RayCluster:
    """Start a head node offering ``num_cpus`` logical CPUs (replicas claim from these, so a
    few are enough even on 2 cores); wait until it runs. RuntimeError with its log if not."""
    temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: socket paths
    log = temp_dir / "start.log"
    ports = free_ports(8 + _WORKER_PORTS)
    gcs, client, manager, objects, metrics, agent, agent_grpc, runtime_env = ports[:8]
    command = [
        str(Path(sys.executable).with_name("ray")),
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={gcs}",
        f"--ray-client-server-port={client}",
        f"--node-manager-port={manager}",
        f"--object-manager-port={objects}",
        f"--metrics-export-port={metrics}",
        f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--runtime-env-agent-port={runtime_env}",
        f"--worker-port-list={','.join(map(str, ports[8:]))}",
        f"--num-cpus={num_cpus}",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
    ]
    token = temp_dir / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **auth, "RAY_USAGE_STATS_ENABLED": "0"},
            start_new_session=True,
        )
    cluster = RayCluster(f"127.0.0.1:{gcs}", process, temp_dir, log, auth)
    expires = time.monotonic() + timeout_s
    while _STARTED not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > expires:
            text = log.read_text(errors="replace")
            cluster.stop()
            raise RuntimeError(f"the Ray head did not start; its output:\n{text[-4000:]}")
        time.sleep(0.2)
    return cluster


@contextlib.contextmanager
def ray_cluster(*, num_cpus: int = 4) -> Iterator[RayCluster]:
    """A cluster for the ``with`` block; stopped by pid whatever happens."""
    cluster = start_ray_cluster(num_cpus=num_cpus)
    try:
        yield cluster
    finally:
        cluster.stop()
