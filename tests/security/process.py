"""A real ``simsearch serve`` process on 127.0.0.1, for the shutdown and load tests.

Readiness is the standard health check answering SERVING; resident memory is read from
``/proc/<pid>/status`` (Linux).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

import simsearch

SRC = Path(simsearch.__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m simsearch.cli serve`` with the given flags; its output goes to ``log``."""

    def __init__(self, model_dir: Path, data_dir: Path, log: Path, *flags: str) -> None:
        self.port = free_port()
        self.metrics_port = free_port()
        self.log_path = log
        argv = [
            sys.executable, "-m", "simsearch.cli", "serve",
            "--model", str(model_dir), "--data-dir", str(data_dir),
            "--host", "127.0.0.1", "--port", str(self.port),
            "--metrics-port", str(self.metrics_port), *flags,
        ]  # fmt: skip
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
        with open(log, "ab") as output:
            self.popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output, env=env
            )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 600.0) -> ServerProcess:
        """Poll the health check until SERVING; ``timeout`` only bounds a hang (a start takes
        seconds, minutes on a loaded machine).

        Each check uses a new channel: a channel that kept failing to connect while the model
        loaded backs off exponentially (up to 2 minutes), and would then still be waiting for
        its next attempt long after the server started serving."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"server exited {self.popen.returncode}:\n{self.log()}")
            with grpc.insecure_channel(self.address) as channel:
                health = health_pb2_grpc.HealthStub(channel)
                try:
                    answer = health.Check(health_pb2.HealthCheckRequest(), timeout=10.0)
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return self
                except grpc.RpcError:
                    pass
            time.sleep(0.1)
        self.kill()
        raise TimeoutError(f"server not SERVING after {timeout} s:\n{self.log()}")

    def rss_kib(self) -> int:
        """Resident memory of the server process, in KiB."""
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def terminate(self) -> None:
        self.popen.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
