"""The CLI's MaxSim commands against a real server over the tiny BERT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simsearch.cli import main


@pytest.fixture
def run(server, capsys):
    address = f"127.0.0.1:{server.port}"

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--address", address, *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_compare_align_prints_each_token_and_its_match(run) -> None:
    code, out, _ = run("compare", "我喜欢北京", "北京 is big", "--align", "--tokens", "words")
    assert code == 0
    assert "maxsim" in out.splitlines()[0]
    assert "a token" in out and "b token" in out
    for char in "我喜欢北京":
        assert char in out
    assert "MaxSim a->b =" in out
    assert "[CLS]" in out and "-" in out  # the special tokens are listed, not counted


def test_compare_json_carries_the_alignment(run) -> None:
    code, out, _ = run("compare", "a cat", "the cat", "--alpha", "0.5", "--json")
    assert code == 0
    (item,) = json.loads(out)
    assert {"score", "maxsim", "hybrid"} <= item.keys()
    assert item["hybrid"] == pytest.approx(0.5 * item["score"] + 0.5 * item["maxsim"], abs=1e-4)
    code, out, _ = run("compare", "a cat", "the cat", "--align", "--json")
    (item,) = json.loads(out)
    tokens = item["alignment"]["a"]
    assert [t["token"] for t in tokens][1:3] == ["a", "cat"]
    assert tokens[2]["start"] == 2 and tokens[2]["end"] == 5


def test_compare_heatmap_writes_a_png_per_pair(run, tmp_path: Path) -> None:
    target = tmp_path / "pair.png"
    code, out, _ = run("compare", "a cat sat", "the cat", "--heatmap", str(target))
    assert code == 0 and f"wrote {target}" in out
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert target.stat().st_size > 2000
    code, out, _ = run("compare", "a", "b", "c", "d", "--heatmap", str(target))
    assert code == 0
    for name in ("pair-1.png", "pair-2.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_create_with_tokens_search_with_rerank_and_rerank_by_ids(run, tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "\n".join(
            json.dumps({"id": i, "text": t})
            for i, t in [("cat", "the cat sat on the mat"), ("dog", "a dog ran"), ("zh", "北京")]
        ),
        encoding="utf-8",
    )
    code, out, _ = run("create", "c", "--store-tokens")
    assert code == 0 and "token embeddings stored" in out
    assert run("upsert", "c", str(docs))[0] == 0
    code, out, _ = run("search", "c", "a cat on a mat", "-k", "2", "--rerank", "--depth", "3")
    assert code == 0
    header = out.splitlines()[1]
    assert "cosine" in header and "maxsim" in header
    code, out, _ = run("search", "c", "a cat", "-k", "2", "--alpha", "0.5", "--json")
    (result,) = json.loads(out)
    assert all({"cosine", "maxsim"} <= hit.keys() for hit in result["hits"])
    code, out, _ = run("rerank", "c", "a dog", "cat", "dog", "--json")
    assert code == 0
    (result,) = json.loads(out)
    assert sorted(hit["id"] for hit in result["hits"]) == ["cat", "dog"]
    code, _, err = run("rerank", "c", "a dog", "cat", "nope")
    assert code == 1 and "NOT_FOUND" in err and "nope" in err
    code, _, err = run("search", "c", "a cat", "-k", "5", "--depth", "2")
    assert code == 1 and "INVALID_ARGUMENT" in err
