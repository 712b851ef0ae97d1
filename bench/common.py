"""Shared by the benchmarks: the STS Benchmark, a server in this process, ranks and tables.

Benchmarks are programs, not tests: run them from the repository root, e.g.
``.venv/bin/python bench/quality.py``. The STS Benchmark lives outside the project, in
``../shared/data/stsbenchmark`` (override with ``SIMSEARCH_STS_DIR``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.client import Client
from simsearch.config import ServerConfig
from simsearch.errors import DeadlineExceededError
from simsearch.server import build_engine, create_server

ROOT = Path(__file__).resolve().parents[1]
STS_DIR = Path(os.environ.get("SIMSEARCH_STS_DIR", ROOT.parent / "shared/data/stsbenchmark"))


@dataclass(frozen=True)
class StsPair:
    score: float  # gold similarity, 0..5
    a: str
    b: str


def load_sts(split: str = "test") -> list[StsPair]:
    """The pairs of ``sts-<split>.csv`` (tab-separated, no header; sentences in columns 5, 6)."""
    path = STS_DIR / f"sts-{split}.csv"
    if not path.exists():
        raise SystemExit(f"STS Benchmark not found at {path} (set SIMSEARCH_STS_DIR)")
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        columns = line.rstrip("\n").split("\t")
        pairs.append(StsPair(float(columns[4]), columns[5], columns[6]))
    return pairs


def ranks(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Ranks from 1, ties sharing their average rank."""
    array = np.asarray(values, dtype=np.float64)
    order = np.argsort(array, kind="stable")
    result = np.empty(len(array), dtype=np.float64)
    sorted_values = array[order]
    start = 0
    while start < len(array):
        end = start
        while end + 1 < len(array) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        result[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return result


def spearman(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Spearman's rank correlation (Pearson of the ranks)."""
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


@contextmanager
def local_server(**settings: Any) -> Iterator[Client]:
    """A server on 127.0.0.1 (port 0) in this process over a temporary data directory, and a
    client to it. ``settings`` override ``ServerConfig`` fields (model, dtype, ...)."""
    with tempfile.TemporaryDirectory(prefix="simsearch-bench-") as data_dir:
        config = replace(
            ServerConfig(host="127.0.0.1", port=0, data_dir=Path(data_dir)), **settings
        )
        running = create_server(config, build_engine(config))
        running.set_serving(True)
        try:
            with Client(f"127.0.0.1:{running.port}", timeout=600) as client:
                yield client
        finally:
            running.stop(grace=5.0)


@contextmanager
def server_process(data_dir: Path, *flags: str, log: Path | None = None) -> Iterator[str]:
    """``simsearch serve`` as a child process on a free loopback port, over ``data_dir``;
    yields its address once health says SERVING, and stops it with SIGTERM after."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "simsearch", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--data-dir", str(data_dir), *flags]
    output = open(log or os.devnull, "w")  # noqa: SIM115 - closed below
    child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    address = f"127.0.0.1:{port}"
    try:
        _wait_serving(address, child)
        yield address
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
        output.close()


def _wait_serving(address: str, child: subprocess.Popen[bytes], limit: float = 300) -> None:
    def exited() -> None:
        if child.poll() is not None:
            raise SystemExit(f"the server exited with code {child.returncode}")

    try:
        with Client(address) as client:
            client.wait_until_serving(limit, check=exited)
    except DeadlineExceededError as exc:
        raise SystemExit(str(exc)) from None


def sts_sentences() -> list[str]:
    """Every distinct sentence of the STS Benchmark's three splits, in a fixed order."""
    seen: dict[str, None] = {}
    for split in ("train", "dev", "test"):
        for pair in load_sts(split):
            seen.setdefault(pair.a)
            seen.setdefault(pair.b)
    return list(seen)


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in header]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        return "  ".join([first] + [v.rjust(w) for v, w in zip(row[1:], widths[1:], strict=True)])

    print(f"\n{title}")
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)
