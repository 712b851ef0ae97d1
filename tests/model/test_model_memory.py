"""Resident memory stays flat whatever input shapes arrive (``encoder.memory``).

bfloat16: oneDNN keeps a compiled kernel per input shape, and the encoder caps its caches. The
growth is measured per call of work, not per second, in a fresh process (oneDNN reads its cache
size once, at its first kernel); bf16 is forced on, so the bf16 path runs on any CPU (oneDNN
emulates it where the CPU lacks it). Every dtype: freed heap pages go back to the system once
per budget of model work; that is checked by counting, the memory it saves on a real model is
in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simsearch.encoder import load_encoder, memory, precision
from simsearch.types import Pooling

VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")
WARM_UP_CALLS = 50
CALLS = 200
MAX_GROWTH = 0.10  # unbounded caches grew ~40% over these calls; bounded ones under 1%

# Calls of 1-32 texts of 1-62 words: each batch a new (rows x length) shape, as under traffic.
SCRIPT = """
import json, random, sys
from simsearch.encoder import load_encoder, precision
from simsearch.types import Pooling
from support.tiny_bert import ENGLISH_WORDS

precision.native_bf16 = lambda device, cpuinfo=None: (True, "forced by the test")

def rss_mib():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024

model, warm_up, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
encoder = load_encoder(model, dtype="bfloat16", batch_size=32, threads=1)
assert encoder.info.precision == "bfloat16", encoder.info
rng = random.Random(3)
samples = {}
for call in range(1, calls + 1):
    texts = [
        " ".join(rng.choices(ENGLISH_WORDS, k=rng.randint(1, 62)))
        for _ in range(rng.randint(1, 32))
    ]
    encoder.encode(texts, Pooling.MEAN, normalize=True, truncate=True)
    if call in (warm_up, calls):
        samples[call] = rss_mib()
print(json.dumps(samples))
"""


def test_resident_memory_is_flat_after_warm_up_whatever_the_shapes(tiny_model_dir: Path) -> None:
    tests = Path(__file__).resolve().parents[1]
    source = Path(memory.__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join([str(source), str(tests)])
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tiny_model_dir), str(WARM_UP_CALLS), str(CALLS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    samples = json.loads(done.stdout.strip().splitlines()[-1])
    warm, end = samples[str(WARM_UP_CALLS)], samples[str(CALLS)]
    growth = (end - warm) / warm
    assert growth <= MAX_GROWTH, f"RSS {warm:.0f} -> {end:.0f} MiB ({growth:+.1%})"


def test_loading_in_bf16_caps_both_caches_unless_already_set(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda device: (True, "forced"))
    monkeypatch.setenv(VARIABLES[0], "0")  # so that the teardown removes what the load sets
    monkeypatch.delenv(VARIABLES[0])
    monkeypatch.setenv(VARIABLES[1], "100")  # an operator's own value is kept
    encoder = load_encoder(str(tiny_model_dir), dtype="bfloat16")
    encoder.close()
    assert os.environ[VARIABLES[0]] == str(memory.KERNEL_CACHE_SHAPES)
    assert os.environ[VARIABLES[1]] == "100"


def test_the_heap_is_trimmed_once_per_budget_of_model_work(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[int] = []
    trimmer = memory.HeapTrimmer(every_tokens=100)
    monkeypatch.setattr(trimmer, "_trim", lambda pad: trims.append(pad) or 1)
    for tokens in (40, 40):
        trimmer.ran(tokens)
    assert trims == []
    for tokens in (40, 10, 90, 250):  # 120: trim; 10 + 90: trim; 250: trim
        trimmer.ran(tokens)
    assert trims == [0, 0, 0]


def test_every_pass_counts_its_padded_tokens_towards_the_next_trim(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[int] = []
    monkeypatch.setattr(memory.HeapTrimmer, "ran", lambda self, tokens: counted.append(tokens))
    encoder = load_encoder(str(tiny_model_dir))
    try:
        encoder.encode(
            ["a cat", "the quick brown fox jumps"], Pooling.MEAN, normalize=True, truncate=False
        )
    finally:
        encoder.close()
    assert counted == [2 * 7]  # one pass: 2 rows padded to [CLS] the quick brown fox jumps [SEP]
