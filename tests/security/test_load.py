"""A bounded load run: 32 concurrent clients mixing searches, encodes and upserts.

Against a real ``simsearch serve`` process (tiny BERT) for ``SIMSEARCH_LOAD_SECONDS`` (default
30; the figures in docs/reliability.md come from 60). The server's concurrency limit is set
below the number of clients (24 < 32) so that overload is exercised: a refused call
(RESOURCE_EXHAUSTED) backs off briefly and tries again, as a well-behaved client does; it is
the only error allowed. Upserts replace documents within a fixed set of ids, so the data stops
growing after warm-up and resident memory must stay flat: the server's VmRSS may not grow by
more than ``MAX_GROWTH`` after the first quarter of the run (the median of the first ``EDGE``
samples after it against that of the last ``EDGE``, so one sample's noise does not count).

The server runs with its default settings, ``--dtype auto`` included: bfloat16 on CPUs with
native bf16, float32 elsewhere (``SIMSEARCH_LOAD_DTYPE`` forces one). Before the encoder bounded
oneDNN's kernel caches, bfloat16 grew by ~12% over those three quarters of a 30 s run (a
compiled kernel per new input shape, most of it in the first half, so a second-half window
would have missed it); bounded, it stays within 1% (docs/reliability.md has the series). The
bound does not depend on the machine's speed: memory that is bounded stays flat however many
calls a run makes. p50 / p99 latencies per operation and the precision are printed at the end
("simsearch security report").
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from simsearch.client import Client
from simsearch.errors import LimitExceededError
from support.security import REPORT

from .process import ServerProcess

CLIENTS = 32
LIMIT = 24
IDS = 2000
SECONDS = float(os.environ.get("SIMSEARCH_LOAD_SECONDS", "30"))
DTYPE = os.environ.get("SIMSEARCH_LOAD_DTYPE", "")  # empty: the server's default (auto)
WARM_UP = 0.25  # of the run
MAX_GROWTH = 0.05  # of resident memory over the rest of the run
EDGE = 5  # samples (0.5 s apart) at each end of the rest whose median is compared
WORDS = (  # noqa: SIM905 (60 words read better as text than as a list of strings)
    "the a cat dog man woman child sits plays runs walks eats on in at mat table park street "
    "beach river music guitar piano food apple ball good small big quick brown fox jumps over "
    "lazy day night model language sentence search vector query document hello world "
    "我 你 他 喜欢 学习 北京 上海 天气 很 好"
).split()
MIX = (("search", 0.5), ("encode", 0.3), ("upsert", 0.2))


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 16)))


@dataclass
class Tally:
    """What the clients saw, shared under a lock."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op, _ in MIX})
    refused: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def operations(client: Client, rng: random.Random) -> dict[str, Callable[[], object]]:
    def upsert() -> object:
        ids = rng.sample(range(IDS), 8)
        return client.upsert("load", [{"id": f"d{i}", "text": sentence(rng)} for i in ids])

    return {
        "search": lambda: client.search("load", sentence(rng), k=10),
        "encode": lambda: client.encode([sentence(rng) for _ in range(4)]),
        "upsert": upsert,
    }


def run_client(address: str, seed: int, stop: threading.Event, tally: Tally) -> None:
    rng = random.Random(seed)
    names, weights = zip(*MIX, strict=True)
    with Client(address, timeout=30) as client:
        ops = operations(client, rng)
        while not stop.is_set():
            name = rng.choices(names, weights)[0]
            start = time.perf_counter()
            try:
                ops[name]()
            except LimitExceededError:
                with tally.lock:
                    tally.refused[name] += 1
                time.sleep(rng.uniform(0.01, 0.03))  # back off, then try again
                continue
            except Exception as error:
                with tally.lock:
                    tally.errors.append(f"{name}: {type(error).__name__}: {error}")
                continue
            elapsed = time.perf_counter() - start
            with tally.lock:
                tally.latencies[name].append(elapsed)


def sample_memory(server: ServerProcess, stop: threading.Event, samples: list[tuple[float, int]]
                  ) -> None:  # fmt: skip
    start = time.monotonic()
    while not stop.wait(0.5):
        samples.append((time.monotonic() - start, server.rss_kib()))


@pytest.fixture
def server(tiny_model_dir: Path, tmp_path: Path) -> ServerProcess:
    process = ServerProcess(
        tiny_model_dir, tmp_path / "data", tmp_path / "server.log",
        "--max-concurrent-rpcs", str(LIMIT), "--workers", "8", "--log-level", "WARNING",
        *(("--dtype", DTYPE) if DTYPE else ()),
    )  # fmt: skip
    yield process.wait_ready()  # type: ignore[misc]
    process.kill()


def series(samples: list[tuple[float, int]]) -> str:
    """RSS (MiB) at each tenth of the run, for the report."""
    marks = [SECONDS * i / 10 for i in range(11)]
    picked = [next((rss for t, rss in samples if t >= mark), samples[-1][1]) for mark in marks]
    return ", ".join(f"{rss / 1024:.0f}" for rss in picked)


def percentiles(values: list[float]) -> str:
    if not values:
        return "no calls"
    p50, p99 = np.percentile(np.array(values) * 1000, [50, 99])
    return f"{len(values):>6} calls  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms"


@pytest.mark.load
def test_32_clients_mixed_load(server: ServerProcess) -> None:
    rng = random.Random(7)
    with Client(server.address) as client:
        precision = client.info().model.precision
        client.create_collection("load")
        for start in range(0, IDS, 250):
            docs = [{"id": f"d{i}", "text": sentence(rng)} for i in range(start, start + 250)]
            client.upsert("load", docs)
    tally, stop, samples = Tally(), threading.Event(), []
    threads = [
        threading.Thread(target=run_client, args=(server.address, seed, stop, tally))
        for seed in range(CLIENTS)
    ]
    threads.append(threading.Thread(target=sample_memory, args=(server, stop, samples)))
    for thread in threads:
        thread.start()
    time.sleep(SECONDS)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    warm = [rss for t, rss in samples if t >= SECONDS * WARM_UP]
    assert len(warm) >= 2 * EDGE, f"too few memory samples: {samples}"
    start_rss = statistics.median(warm[:EDGE])
    end_rss = statistics.median(warm[-EDGE:])
    growth = (end_rss - start_rss) / start_rss
    total = sum(len(v) for v in tally.latencies.values())
    lines = [f"{SECONDS:.0f} s, {CLIENTS} clients, max_concurrent_rpcs {LIMIT}, {precision}: "
             f"{total} calls ({total / SECONDS:.0f}/s), {sum(tally.refused.values())} refused "
             f"(RESOURCE_EXHAUSTED), {len(tally.errors)} other errors"]  # fmt: skip
    lines += [f"{op:<7}{percentiles(values)}  refused {tally.refused[op]}"
              for op, values in tally.latencies.items()]  # fmt: skip
    all_latencies = [x for values in tally.latencies.values() for x in values]
    lines.append(f"{'all':<7}{percentiles(all_latencies)}")
    lines.append(
        f"server RSS after the first {WARM_UP:.0%}: {start_rss / 1024:.1f} -> "
        f"{end_rss / 1024:.1f} MiB ({growth:+.1%}; peak {max(warm) / 1024:.1f} MiB; "
        f"series every {SECONDS / 10:.0f} s: {series(samples)} MiB)"
    )
    REPORT["load"] = lines
    print("\n".join(lines))
    assert not tally.errors, tally.errors[:10]
    assert all(len(values) > 0 for values in tally.latencies.values())
    assert growth <= MAX_GROWTH, f"resident memory grew {growth:.1%} after warm-up"
