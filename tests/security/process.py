"""A real ``simsearch serve`` process on 127.0.0.1, for the shutdown and load tests.

Readiness is ``Client.wait_until_serving`` (the health service's Watch); resident memory is read
from ``/proc/<pid>/status`` (Linux).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import simsearch
from simsearch.errors import DeadlineExceededError
from support.serving import wait_serving

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
        """Block until the health check says SERVING; ``timeout`` only bounds a hang (a start
        takes seconds, minutes on a loaded machine)."""
        try:
            wait_serving(self.address, timeout, check=self._raise_if_exited)
        except DeadlineExceededError:
            self.kill()
            raise TimeoutError(f"server not SERVING after {timeout} s:\n{self.log()}") from None
        return self

    def _raise_if_exited(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(f"server exited {self.popen.returncode}:\n{self.log()}")

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
