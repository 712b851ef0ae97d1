"""``simsearch create --calibration``, ``simsearch calibrate`` and ``--collection`` on encode
and compare: the real command (a separate process) against a real server over the tiny BERT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import simsearch

SRC = Path(simsearch.__file__).resolve().parents[1]

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def simsearch_command(server: Any) -> Run:
    env = {**os.environ, "PYTHONPATH": str(SRC), "SIMSEARCH_ADDRESS": f"127.0.0.1:{server.port}"}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "simsearch.cli", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    return run


def test_create_calibrate_encode_and_compare(simsearch_command: Run, tmp_path: Path) -> None:
    created = simsearch_command(
        "create", "c", "--pooling", "mean", "--calibration", "whiten", "--dimensions", "8"
    )
    assert created.returncode == 0, created.stderr
    assert "calibration whiten keeping 8 dimensions (fitted automatically at 1000" in (
        created.stdout
    )
    path = tmp_path / "docs.jsonl"
    lines = [json.dumps({"id": f"d{i}", "text": f"the cat number {i} sat"}) for i in range(40)]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    assert simsearch_command("upsert", "c", str(path)).returncode == 0
    calibrated = simsearch_command("calibrate", "c")
    assert calibrated.returncode == 0, calibrated.stderr
    assert calibrated.stdout.strip() == "calibrated collection 'c': whiten fitted on 40 documents"
    encoded = simsearch_command("--json", "encode", "a cat", "--collection", "c")
    assert encoded.returncode == 0, encoded.stderr
    (item,) = json.loads(encoded.stdout)
    assert np.asarray(item["embedding"]).shape == (8,)
    compared = simsearch_command("--json", "compare", "a cat", "a dog", "--collection", "c")
    assert compared.returncode == 0, compared.stderr
    refused = simsearch_command("encode", "a cat", "--collection", "c", "--pooling", "cls")
    assert refused.returncode != 0
    assert "INVALID_ARGUMENT" in refused.stderr and "pooling mean, not cls" in refused.stderr


def test_calibrate_errors_are_explained(simsearch_command: Run) -> None:
    missing = simsearch_command("calibrate", "missing")
    assert missing.returncode != 0 and "NOT_FOUND" in missing.stderr
    bad = simsearch_command("create", "x", "--calibration", "center", "--dimensions", "4")
    assert bad.returncode != 0 and "whiten only" in bad.stderr
