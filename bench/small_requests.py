"""Small requests against large ones: what does a request cost beyond its texts?

The server (defaults unless flags say otherwise) runs in this process, as ``simsearch serve``
builds it (metrics included); the gRPC clients run in a separate process, as real clients
would (on a 2-core machine they still share the cores with the model). Rows, alternated in
every round so that load from elsewhere on the machine hits them alike:

- encoder 1 x 64 / 32 threads x 1: the server's own engine called in this process, without
  gRPC (one caller sending 64 texts a call; 32 threads sending one text a call): what the
  batcher and the model cost.
- gRPC 1 x 64 / 32 x 1: the same through the network stack: one client sending 64 texts a
  call; 32 client threads, each on its own channel, sending one text a call.

Columns: sentences/s (median of the rounds), the ratio to ``gRPC 1 x 64``, the forward passes
made and their mean rows, and the CPU milliseconds spent per sentence by the server process and
by the client process (the model's threads included: the whole process).

``--before`` adds a row next to each ``x 1`` row: the same with the encoder's window rule of
session 4 (a window was due once as many jobs were queued as the larger of the last two windows
held, work that waited through a pass never waited again, and every submit woke the worker),
patched in for that row only. Rows run in the opposite order every other round: the second of
two like rows ran up to 20% slower on a loaded machine.

``--profile DIR`` then records the server and client processes with py-spy (it must be
installed: ``.venv/bin/pip install py-spy``) while ``gRPC 32 x 1`` runs, and prints the
functions where the most samples fall (``--gil``: only samples holding the GIL).

    .venv/bin/python bench/small_requests.py [--quick] [--rounds N] [--engine E]
        [--batch-wait-ms MS] [--before] [--profile DIR [--gil]]
"""

from __future__ import annotations

import argparse
import collections
import functools
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from together import in_threads

QUICK_SENTENCES = 640
CLIENT_BATCH = 64
CONCURRENT_CLIENTS = 32


@dataclass(frozen=True)
class Run:
    seconds: float
    passes: float
    server_cpu: float
    client_cpu: float


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    import common  # heavy (torch, the server): kept out of the client process's imports

    from simsearch.config import ServerConfig
    from simsearch.server import build_engine, create_server
    from simsearch.server.metrics import Metrics

    sentences = common.sts_sentences()[: QUICK_SENTENCES if args.quick else args.sentences]
    settings: dict[str, Any] = {}
    if args.engine:
        settings["engine"] = args.engine
    if args.batch_wait_ms is not None:
        settings["batch_wait_ms"] = args.batch_wait_ms
    with tempfile.TemporaryDirectory(prefix="simsearch-bench-") as data_dir:
        config = replace(
            ServerConfig(host="127.0.0.1", port=0, data_dir=Path(data_dir)), **settings
        )
        metrics = Metrics()
        engine = build_engine(config, metrics)
        running = create_server(config, engine, metrics=metrics)
        running.set_serving(True)
        address = f"127.0.0.1:{running.port}"
        pool = multiprocessing.get_context("spawn").Pool(1)
        try:
            model = engine.model
            print(
                f"{len(sentences)} sentences; model {model.name}, {model.precision}, "
                f"engine {getattr(model, 'engine', 'torch')}; server pid {os.getpid()}",
                flush=True,
            )
            subjects = _subjects(engine, pool, address, sentences, metrics)
            if args.before:
                subjects = _with_rows_before(subjects)
            for run in subjects.values():
                run()  # warm-up: connections, allocator, first passes
            runs = _rounds(subjects, args.rounds)
            _report(runs, len(sentences))
            if args.profile:
                _profile(args, pool, address, sentences)
        finally:
            pool.close()
            pool.join()
            running.stop(grace=5.0)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SENTENCES} sentences")
    parser.add_argument("--sentences", type=int, default=2000, help="sentences per row")
    parser.add_argument("--rounds", type=int, default=0, help="rounds (default 3, quick 2)")
    parser.add_argument("--engine", default="", help="server engine (default: its default)")
    parser.add_argument("--batch-wait-ms", type=float, default=None)
    parser.add_argument("--before", action="store_true", help="rows with the old window rule")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy output folder")
    parser.add_argument("--gil", action="store_true", help="profile GIL holders only")
    parser.add_argument("--profile-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 3)
    return args


# -- subjects ---------------------------------------------------------------------------------


def _subjects(
    engine: Any, pool: Any, address: str, sentences: list[str], metrics: Any
) -> dict[str, Callable[[], Run]]:
    def passes() -> float:
        value = metrics.registry.get_sample_value("simsearch_encoder_batch_size_count")
        return float(value or 0.0)

    def measured(work: Callable[[], tuple[float, float]]) -> Run:
        passes_before, cpu_before = passes(), time.process_time()
        seconds, client_cpu = work()
        return Run(seconds, passes() - passes_before, time.process_time() - cpu_before, client_cpu)

    def in_process(clients: int, batch: int) -> Callable[[], Run]:
        return lambda: measured(lambda: (_encoder_threads(engine, sentences, clients, batch), 0.0))

    def over_grpc(clients: int, batch: int) -> Callable[[], Run]:
        pool.apply(_connect, (address, clients))
        task = (address, sentences, clients, batch)
        return lambda: measured(lambda: pool.apply(_client_process, task))

    return {
        f"encoder 1 x {CLIENT_BATCH}": in_process(1, CLIENT_BATCH),
        f"encoder {CONCURRENT_CLIENTS} threads x 1": in_process(CONCURRENT_CLIENTS, 1),
        f"gRPC 1 x {CLIENT_BATCH}": over_grpc(1, CLIENT_BATCH),
        f"gRPC {CONCURRENT_CLIENTS} x 1": over_grpc(CONCURRENT_CLIENTS, 1),
    }


def _with_rows_before(subjects: dict[str, Callable[[], Run]]) -> dict[str, Callable[[], Run]]:
    """A row with the window rule before session 6 next to each ``x 1`` row."""
    with_before: dict[str, Callable[[], Run]] = {}
    for name, run in subjects.items():
        if name.endswith(" x 1"):
            with_before[f"{name} (rule before)"] = functools.partial(_rule_before, run)
        with_before[name] = run
    return with_before


def _rule_before(run: Callable[[], Run]) -> Run:
    """``run()`` with the scheduler's window rule of session 4 patched in (see the docstring)."""
    from simsearch.encoder import scheduler

    cls = scheduler.BatchScheduler
    take, due, fill = cls._take_window, cls._due_by_count, cls._fill_delay
    recent: dict[int, collections.deque[int]] = collections.defaultdict(
        lambda: collections.deque(maxlen=2)
    )

    def take_before(self: Any) -> Any:
        window = take(self)
        recent[id(self)].append(len({id(row.pending) for row in window}))  # jobs per window
        return window

    def fill_before(self: Any) -> float | None:
        if not self._queue:
            return None
        return scheduler.fill_delay(
            now=time.monotonic(),
            oldest=min(pending.enqueued_at for pending in self._queue),
            queued_rows=self._queued_rows,
            queued_jobs=len(self._queue),
            expected_jobs=max(recent[id(self)], default=0),
            batch_size=self._settings.batch_size,
            wait_s=self._wait_s,
            last_window_s=self._last_window_s,
            last_window_end=0.0,  # the wait counted from the oldest job's arrival only
        )

    cls._take_window, cls._fill_delay = take_before, fill_before  # type: ignore[method-assign]
    cls._due_by_count = lambda self: True  # type: ignore[method-assign]  # every submit woke it
    try:
        return run()
    finally:
        cls._take_window, cls._due_by_count, cls._fill_delay = take, due, fill  # type: ignore[method-assign]


def _split(sentences: list[str], clients: int, batch: int) -> list[list[list[str]]]:
    """Each client's calls: thread t takes batches t, t + clients, ..."""
    batches = [sentences[i : i + batch] for i in range(0, len(sentences), batch)]
    return [batches[t::clients] for t in range(clients)]


def _encoder_threads(engine: Any, sentences: list[str], clients: int, batch: int) -> float:
    from simsearch.types import Pooling

    calls = _split(sentences, clients, batch)

    def work(t: int) -> None:
        for texts in calls[t]:
            engine.encode(texts, Pooling.POOLER)

    return in_threads(clients, work)


_CONNECTIONS: dict[tuple[str, int], list[Any]] = {}


def _connect(address: str, clients: int) -> None:
    """In the client process: open (and warm up) ``clients`` connections, kept for the runs,
    so that neither the clock nor the server's pass count sees the set-up."""
    from simsearch.client import Client

    if (address, clients) not in _CONNECTIONS:
        connections = [Client(address, timeout=600) for _ in range(clients)]
        for connection in connections:
            connection.encode(["warm up"], pooling="pooler")
        _CONNECTIONS[(address, clients)] = connections


def _client_process(
    address: str, sentences: list[str], clients: int, batch: int
) -> tuple[float, float]:
    """In the client process: ``clients`` threads, each its own channel (see ``_connect``);
    returns the seconds and this process's CPU seconds over the run."""
    calls = _split(sentences, clients, batch)
    connections = _CONNECTIONS[(address, clients)]

    def work(t: int) -> None:
        for texts in calls[t]:
            connections[t].encode(texts, pooling="pooler")

    cpu = time.process_time()
    seconds = in_threads(clients, work)
    return seconds, time.process_time() - cpu


def _client_pid() -> int:
    return os.getpid()


# -- measuring and reporting ------------------------------------------------------------------


def _rounds(subjects: dict[str, Callable[[], Run]], rounds: int) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {name: [] for name in subjects}
    for number in range(rounds):
        names = list(subjects)
        for name in names if number % 2 == 0 else reversed(names):  # no row always goes first
            runs[name].append(subjects[name]())
        line = ", ".join(f"{name} {runs[name][-1].seconds:.2f}s" for name in subjects)
        print(f"round {number + 1}: {line}", flush=True)
    return runs


def _report(runs: dict[str, list[Run]], sentences: int) -> None:
    import common

    reference_name = f"gRPC 1 x {CLIENT_BATCH}"
    rates = {
        name: statistics.median(sentences / r.seconds for r in rs) for name, rs in runs.items()
    }
    rows = []
    for name, rs in runs.items():
        passes = statistics.median(r.passes for r in rs)
        rows.append(
            [
                name,
                round(rates[name]),
                f"{100 * rates[name] / rates[reference_name]:.0f}%",
                round(passes),
                f"{sentences / passes:.1f}" if passes else "-",
                f"{1000 * statistics.median(r.server_cpu for r in rs) / sentences:.2f}",
                f"{1000 * statistics.median(r.client_cpu for r in rs) / sentences:.2f}",
            ]
        )
    header = ["row", "sent/s", "vs 1 x 64", "passes", "rows/pass", "server ms", "client ms"]
    common.print_table("Small requests (medians; CPU ms per sentence)", header, rows)
    many = rates[f"gRPC {CONCURRENT_CLIENTS} x 1"]
    print(
        f"\ntarget: gRPC {CONCURRENT_CLIENTS} x 1 / gRPC 1 x {CLIENT_BATCH} = "
        f"{100 * many / rates[reference_name]:.0f}% (>= 80%)"
    )


def _profile(args: argparse.Namespace, pool: Any, address: str, sentences: list[str]) -> None:
    """py-spy both processes while ``gRPC 32 x 1`` runs; print the top functions of each."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    args.profile.mkdir(parents=True, exist_ok=True)
    targets = {"server": os.getpid(), "client": pool.apply(_client_pid)}
    recorders = {}
    for role, pid in targets.items():
        output = args.profile / f"{role}.txt"
        command = [py_spy, "record", "-p", str(pid), "-r", "250", "--nonblocking", "-t"]
        command += ["-f", "raw", "-o", str(output), "-d", str(int(args.profile_seconds))]
        command += ["--gil"] if args.gil else []
        recorders[role] = (subprocess.Popen(command, stdout=subprocess.DEVNULL), output)
    deadline = time.monotonic() + args.profile_seconds
    task = (address, sentences, CONCURRENT_CLIENTS, 1)
    while time.monotonic() < deadline:
        pool.apply(_client_process, task)
    for role, (recorder, output) in recorders.items():
        recorder.wait()
        _print_profile(role, output)


def _print_profile(role: str, output: Path, top: int = 25) -> None:
    """Self and inclusive sample shares of the busiest functions in py-spy's raw output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in output.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")]
        if frames and frames[-1].startswith(("<idle>", "idle")):
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    print(f"\n{role}: {total} samples; top functions by own samples (own %, inclusive %)")
    for frame, count in own.most_common(top):
        print(f"  {100 * count / total:5.1f}  {100 * inclusive[frame] / total:5.1f}  {frame}")
    print(f"{role}: top by inclusive samples")
    for frame, count in inclusive.most_common(top):
        print(f"  {100 * count / total:5.1f}  {frame}")


def _short(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (file.py)``."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit("/", 1)[-1].split(":")[0]
    return f"{name} ({file})" if file else name


if __name__ == "__main__":
    main()
