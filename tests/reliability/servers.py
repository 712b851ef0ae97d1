"""Real ``simsearch serve`` processes on 127.0.0.1 for the reliability tests.

A :class:`Server` is one server process, either forked by the :class:`Zygote` (fast restarts,
see ``zygote.py``) or started cold as ``python -m simsearch.cli serve`` (:func:`start_cold`).
Both run the same code: the ``serve`` command. Readiness is ``Client.wait_until_serving`` (the
health service's Watch); a process that exits first raises :class:`ServerExitedError` with its log.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import simsearch
from simsearch.errors import DeadlineExceededError
from support.serving import wait_serving

SRC = Path(simsearch.__file__).resolve().parents[1]  # the simsearch under test
ZYGOTE = Path(__file__).with_name("zygote.py")
HOST = "127.0.0.1"
READY_TIMEOUT = 60.0


class ServerExitedError(RuntimeError):
    """The server process exited before it was ready; ``status`` and ``log`` say why."""

    def __init__(self, status: int | None, log: str) -> None:
        super().__init__(f"simsearch serve exited with status {status}; its log:\n{log[-4000:]}")
        self.status = status
        self.log = log


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return env


def serve_argv(model_dir: Path, data_dir: Path, port: int, *flags: str) -> list[str]:
    """Arguments of ``simsearch serve`` (after the word ``serve``)."""
    return [
        "--model",
        str(model_dir),
        "--data-dir",
        str(data_dir),
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "INFO",
        # float32: a text's vector must not depend on what shares its batch (checked to 1e-5);
        # under bfloat16 ("auto" on CPUs with AVX512-BF16) it varies by ~4e-3 with the batch.
        "--dtype",
        "float32",
        *flags,
    ]


class Zygote:
    """The fork server of ``zygote.py``; one per test session."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(ZYGOTE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=server_env(),
        )
        self._ready = False  # its imports overlap whatever the caller does next

    def _wait_ready(self) -> None:
        if not self._ready:
            self._ask_raw(None, timeout=180.0)  # waits for {"ready": pid}
            self._ready = True

    def spawn(self, argv: Sequence[str], log: Path, fsize: int | None = None) -> int:
        request = {"op": "spawn", "argv": list(argv), "log": str(log), "fsize": fsize}
        return int(self._ask(request)["pid"])

    def wait(self, pid: int, timeout: float) -> int | None:
        """The child's exit code (-N for signal N), or None if it still runs after ``timeout``."""
        status = self._ask({"op": "wait", "pid": pid, "timeout": timeout}, timeout + 10.0)
        return None if status["status"] is None else int(status["status"])

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def _ask(self, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        self._wait_ready()
        return self._ask_raw(json.dumps(request), timeout)

    def _ask_raw(self, line: str | None, timeout: float) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        if line is not None:
            self._process.stdin.write(line + "\n")
            self._process.stdin.flush()
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        reply = self._process.stdout.readline() if ready else ""
        if not reply:
            raise RuntimeError(f"the zygote did not answer {line!r} (exit {self._process.poll()})")
        answer: dict[str, Any] = json.loads(reply)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer


class Server:
    """One server process on ``127.0.0.1:port``; ``log`` holds its stdout and stderr."""

    def __init__(
        self,
        port: int,
        log: Path,
        *,
        zygote: Zygote | None,
        pid: int,
        popen: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.port = port
        self.log_path = log
        self.pid = pid
        self._zygote = zygote
        self._popen = popen
        self.status: int | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def poll(self, timeout: float = 0.0) -> int | None:
        """The exit status if the process has exited (reaping it), else None."""
        if self.status is None:
            if self._popen is not None:
                try:
                    self.status = self._popen.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    return None
            else:
                assert self._zygote is not None
                self.status = self._zygote.wait(self.pid, timeout)
        return self.status

    def kill(self) -> int:
        """SIGKILL, at once; returns the exit status once reaped."""
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
        status = self.poll(timeout=30.0)
        assert status is not None, f"server {self.pid} survived SIGKILL"
        return status

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (drain, checkpoint, exit); SIGKILL if it is not gone after ``timeout``."""
        if self.status is None:
            os.kill(self.pid, signal.SIGTERM)
        status = self.poll(timeout=timeout)
        return self.kill() if status is None else status

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> Server:
        """Block until the health check says SERVING; ServerExitedError if it exits first."""
        try:
            wait_serving(self.address, timeout, check=self._raise_if_exited)
        except DeadlineExceededError:
            self.kill()
            raise TimeoutError(
                f"server not SERVING after {timeout} s; its log:\n{self.log()[-4000:]}"
            ) from None
        return self

    def _raise_if_exited(self) -> None:
        if self.poll() is not None:
            raise ServerExitedError(self.status, self.log())

    def wait_exit(self, timeout: float = READY_TIMEOUT) -> int | None:
        """For a server expected to refuse to start: its exit status (None: still running)."""
        return self.poll(timeout=timeout)


StartServer = Callable[..., Server]  # the start_server fixture (conftest.py)


def start_forked(
    zygote: Zygote,
    model_dir: Path,
    data_dir: Path,
    log: Path,
    *flags: str,
    fsize: int | None = None,
) -> Server:
    """Fork a server (not yet waited for: call ``wait_ready`` or ``wait_exit``)."""
    port = free_port()
    pid = zygote.spawn(serve_argv(model_dir, data_dir, port, *flags), log, fsize)
    return Server(port, log, zygote=zygote, pid=pid)


def start_cold(
    model_dir: Path, data_dir: Path, log: Path, *flags: str, fsize: int | None = None
) -> Server:
    """Start ``python -m simsearch.cli serve`` as a new process (not yet waited for)."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "simsearch.cli",
        "serve",
        *serve_argv(model_dir, data_dir, port, *flags),
    ]

    def limit() -> None:
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    with open(log, "ab") as output:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            env=server_env(),
            preexec_fn=None if fsize is None else limit,
        )
    return Server(port, log, zygote=None, pid=popen.pid, popen=popen)
