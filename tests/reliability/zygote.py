"""A fork server for ``simsearch serve``: imports the heavy modules once, forks a server per start.

A cold ``simsearch serve`` spends about 4 s importing torch and transformers before it reads its
data directory; the crash loop restarts the server more than 40 times, so it would spend minutes
importing. This process imports everything once and then, for each ``spawn``, forks a child that
runs exactly ``simsearch.cli.main(["serve", *argv])``, the code behind ``simsearch serve``. The
child is a real server process with its own files, data-directory lock and sockets, and the test
kills it with a real SIGKILL. Nothing is created before the fork (no model, no gRPC channel or
server, no torch thread pool), so the children start clean.

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout.

    {"op": "spawn", "argv": [...], "log": PATH, "fsize": BYTES or null}  ->  {"pid": PID}
    {"op": "wait", "pid": PID, "timeout": SECONDS}  ->  {"status": CODE | -SIGNAL | null}

``fsize`` sets RLIMIT_FSIZE in the child (a simulated full disk; SIGXFSZ is ignored so a write
past it fails with EFBIG instead of killing the process). On end of input every child still
running is killed and reaped.

Usage: python zygote.py  (with ``simsearch`` importable)
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
from typing import Any


def _preload() -> None:
    import faiss  # noqa: F401
    import grpc  # noqa: F401
    import torch  # noqa: F401
    import transformers
    import transformers.models.bert.modeling_bert  # noqa: F401
    from transformers import AutoModel, AutoTokenizer  # noqa: F401

    import simsearch.cli.serving  # noqa: F401


def _child(argv: list[str], log: str, fsize: int | None) -> None:
    """Runs in the forked child; never returns."""
    code = 70
    try:
        descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(descriptor, 1)
        os.dup2(descriptor, 2)
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        from simsearch.cli import main

        code = main(["serve", *argv])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def _handle(request: dict[str, Any], children: set[int]) -> dict[str, Any]:
    if request["op"] == "spawn":
        pid = os.fork()
        if pid == 0:
            _child(request["argv"], request["log"], request.get("fsize"))
        children.add(pid)
        return {"pid": pid}
    if request["op"] == "wait":
        status = _wait(int(request["pid"]), float(request.get("timeout", 10.0)))
        if status is not None:
            children.discard(int(request["pid"]))
        return {"status": status}
    return {"error": f"unknown op {request['op']!r}"}


def main() -> None:
    _preload()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    children: set[int] = set()
    for line in sys.stdin:
        print(json.dumps(_handle(json.loads(line), children)), flush=True)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


if __name__ == "__main__":
    main()
