"""The real ``simsearch`` command (a separate process, ``python -m simsearch.cli``) against a
real server over the tiny BERT: the steps a new user takes, and the errors they meet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import simsearch

SRC = Path(simsearch.__file__).resolve().parents[1]

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def simsearch_command(server: Any) -> Run:
    env = {**os.environ, "PYTHONPATH": str(SRC), "SIMSEARCH_ADDRESS": f"127.0.0.1:{server.port}"}

    def run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "simsearch.cli", *argv],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    return run


def write_jsonl(path: Path, documents: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents), "utf-8")
    return path


def test_a_text_too_long_in_tokens_is_placed_on_its_line_and_id(
    simsearch_command: Run, tmp_path: Path
) -> None:
    documents = [{"id": f"d{i}", "text": f"the cat sat {i}"} for i in range(10)]
    documents[6] = {"id": "long1", "text": " ".join(["cat"] * 200)}  # the tiny model takes 64
    path = write_jsonl(tmp_path / "docs.jsonl", documents)
    assert simsearch_command("create", "demo").returncode == 0
    done = simsearch_command("upsert", "demo", str(path), "--batch-size", "4")
    assert done.returncode == 1
    error, committed = done.stderr.splitlines()
    assert error.startswith(f"error: INVALID_ARGUMENT: {path}:7 (id 'long1'): ")
    assert committed.startswith(f"4 of 10 documents were committed ({path} lines 1-4)")
    assert "running the same command again is safe" in committed
    rerun = simsearch_command("upsert", "demo", str(path), "--batch-size", "4", "--truncate")
    assert rerun.returncode == 0
    assert rerun.stdout.startswith("upserted 10 documents into 'demo'")
    assert rerun.stdout.rstrip().endswith("1 truncated: long1")


def test_export_writes_what_upsert_reads(simsearch_command: Run, tmp_path: Path) -> None:
    documents = [
        {"id": "b", "text": "a dog ran in the park", "metadata": {"genre": "news", "n": 2}},
        {"id": "a", "text": "北京 weather is good", "metadata": {}},
        {"id": "c", "text": "the cat sat on the mat", "metadata": {"tags": ["x", "y"]}},
    ]
    path = write_jsonl(tmp_path / "docs.jsonl", documents)
    assert simsearch_command("create", "source", "--store-tokens").returncode == 0
    assert simsearch_command("upsert", "source", str(path)).returncode == 0
    exported = simsearch_command("export", "source")
    assert exported.returncode == 0 and exported.stderr == ""
    assert [json.loads(line) for line in exported.stdout.splitlines()] == sorted(
        documents, key=lambda d: d["id"]
    )
    target = tmp_path / "export.jsonl"
    written = simsearch_command("export", "source", "--output", str(target), "--after-id", "a")
    assert written.stdout.strip() == f"exported 2 documents of 'source' to {target}"
    assert simsearch_command("create", "copy").returncode == 0
    assert simsearch_command("upsert", "copy", "-", stdin=exported.stdout).returncode == 0
    got = simsearch_command("get", "copy", "a", "b", "c", "--json")
    assert json.loads(got.stdout) == documents[1:2] + documents[:1] + documents[2:]
    missing = simsearch_command("export", "nope")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr.startswith("error: NOT_FOUND: ")


def test_filters_describe_and_unknown_tokens(simsearch_command: Run, tmp_path: Path) -> None:
    documents = [
        {"id": "n", "text": "the news today", "metadata": {"genre": "news"}},
        {"id": "s", "text": "the ball game", "metadata": {"genre": "sport"}},
    ]
    assert simsearch_command("create", "demo", "--store-tokens").returncode == 0
    path = write_jsonl(tmp_path / "docs.jsonl", documents)
    assert simsearch_command("upsert", "demo", str(path)).returncode == 0
    found = simsearch_command("search", "demo", "today", "--filter", "genre==news", "--json")
    assert [hit["id"] for hit in json.loads(found.stdout)[0]["hits"]] == ["n"]
    refused = simsearch_command("search", "demo", "today", "--filter", "n>=1")
    assert refused.returncode == 2 and "equality only" in refused.stderr
    described = simsearch_command("describe", "demo").stdout.splitlines()
    assert any(line.split()[:3] == ["store", "tokens", "yes"] for line in described)
    tokens = simsearch_command("tokens", "我喜欢北京 ☃ ☃")
    assert tokens.returncode == 0
    assert tokens.stdout.splitlines()[-1] == "unknown tokens: 2"
    assert "the model's vocabulary has no tokens for 2 pieces of this text" in tokens.stderr
