"""Encode over gRPC with the model on Ray Serve replicas against the model in the server process.

Three ``simsearch serve`` processes with the same settings (model, engine, precision, threads,
batching) differ only in where the model runs:

- in-process: ``--encoder local``, the reference every ratio is taken against;
- ray 1 replica / ray 2 replicas: ``--encoder ray --replicas N`` on one local Ray cluster
  (``ray start --head`` on 127.0.0.1, started here by ``tests/support/ray_cluster.py``).

Clients run in a separate process, as real clients would: ``1x64`` is one client sending
batches of 64 sentences in sequence (the issue's target: ray with 1 replica >= 80% of
in-process); ``4x64`` is four clients doing so at once (work for more than one replica). Rows
are measured in alternating rounds (each round runs every row once, in a rotated order; the
best round of each row is kept), because these machines are shared and their speed drifts.
The last column is the largest difference of any vector from the in-process server's.

Each replica claims ``--threads`` CPUs from Ray, so on one machine 2 replicas share its cores
with each other: that row shows the cost of routing across replicas, not their scaling, which
needs a machine (or node) per replica.

    .venv/bin/python bench/ray_encode.py [--quick] [--repeats N] [--engine torch]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from together import encode_in_threads

FloatArray = npt.NDArray[np.float32]

QUICK_PAIRS = 320  # --quick: the first 320 pairs (640 sentences)
BATCH = 64
CLIENTS = (1, 4)
ROOT = Path(__file__).resolve().parents[1]


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    import common  # heavy (torch, the server): kept out of the client process's imports

    sys.path.insert(0, str(ROOT / "tests"))
    from support.ray_cluster import ray_cluster

    pairs = common.load_sts()[: QUICK_PAIRS if args.quick else None]
    sentences = [s for pair in pairs for s in (pair.a, pair.b)]
    threads = args.threads or os.cpu_count() or 1
    settings = ["--model", args.model, "--engine", args.engine, "--dtype", args.dtype]
    settings += ["--threads", str(threads), "--batch-size", str(BATCH)]
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ray-bench-")))
        settings += ["--model-cache-dir", str(work / "models")]  # converted once, shared
        started = time.monotonic()
        # Every replica claims `threads` CPUs: 1 + 2 replicas must fit the cluster.
        cluster = stack.enter_context(ray_cluster(num_cpus=3 * threads))
        os.environ.update(cluster.environment)  # the servers inherit the cluster's token
        contenders = {
            "in-process": ["--encoder", "local"],
            "ray 1 replica": [
                "--encoder",
                "ray",
                "--ray-address",
                cluster.address,
                "--replicas",
                "1",
            ],
            "ray 2 replicas": [
                "--encoder",
                "ray",
                "--ray-address",
                cluster.address,
                "--replicas",
                "2",
            ],
        }
        addresses = {}
        for name, flags in contenders.items():
            data = work / name.replace(" ", "-")
            log = work / f"{data.name}.log"
            addresses[name] = stack.enter_context(
                common.server_process(data, *settings, *flags, log=log)
            )
        print(f"cluster and servers up in {time.monotonic() - started:.0f} s", flush=True)
        pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(1))
        rows = [(name, clients) for name in contenders for clients in CLIENTS]
        best: dict[tuple[str, int], float] = {}
        vectors: dict[tuple[str, int], FloatArray] = {}
        for round_ in range(args.repeats):
            shift = round_ % len(rows)
            for row in rows[shift:] + rows[:shift]:
                name, clients = row
                task = (addresses[name], sentences, clients, BATCH)
                seconds, vectors[row] = pool.apply(encode_in_threads, task)
                best[row] = min(best.get(row, float("inf")), seconds)
                print(f"round {round_ + 1}: {name} {clients}x{BATCH}: {seconds:.2f} s", flush=True)
    _report(rows, best, vectors, len(sentences), args, threads)


def _report(
    rows: list[tuple[str, int]],
    best: dict[tuple[str, int], float],
    vectors: dict[tuple[str, int], FloatArray],
    count: int,
    args: argparse.Namespace,
    threads: int,
) -> None:
    import common

    table = []
    for name, clients in rows:
        rate = count / best[(name, clients)]
        reference = count / best[("in-process", clients)]
        difference = float(np.abs(vectors[(name, clients)] - vectors[("in-process", 1)]).max())
        table.append(
            [name, f"{clients}x{BATCH}", f"{rate:.0f}", rate / reference, f"{difference:.1e}"]
        )
    common.print_table(
        f"Encode over gRPC, {count} STS-B test sentences, model {args.model}, engine "
        f"{args.engine}, dtype {args.dtype}, {threads} threads per model, best of "
        f"{args.repeats} alternating rounds",
        ["contender", "clients", "sentences/s", "x in-process", "max |diff|"],
        table,
    )


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"the first {QUICK_PAIRS} pairs")
    parser.add_argument("--repeats", type=int, default=0, help="rounds (default 3, quick 2)")
    parser.add_argument("--model", default="default")
    parser.add_argument("--engine", default="auto", help="torch, openvino or auto")
    parser.add_argument("--dtype", default="auto", help="float32, bfloat16 or auto")
    parser.add_argument("--threads", type=int, default=0, help="per model (default: cores)")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (2 if args.quick else 3)
    return args


if __name__ == "__main__":
    main()
