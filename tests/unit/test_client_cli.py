"""The client CLI: argument parsing, and each command against a fake server over real gRPC."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from simsearch.client.arguments import UsageError, build_filter, filter_item, text_pairs
from simsearch.client.cli import main
from unit.client_fakes import FakeSimSearch, closed_port_address, running


@pytest.fixture
def fake() -> FakeSimSearch:
    return FakeSimSearch()


@pytest.fixture
def address(fake: FakeSimSearch) -> Iterator[str]:
    with running(fake) as address:
        yield address


# -- argument parsing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("year=2012", ("year", 2012)),
        ("score=0.5", ("score", 0.5)),
        ("flag=true", ("flag", True)),
        ("gone=null", ("gone", None)),
        ('year="2012"', ("year", "2012")),
        ("lang=en", ("lang", "en")),
        ("lang=", ("lang", "")),
        ("x=NaN", ("x", "NaN")),
        ("eq=a=b", ("eq", "a=b")),
        ("语言=中文", ("语言", "中文")),
    ],
)
def test_filter_values_are_json_when_they_parse_else_strings(
    item: str, expected: tuple[str, Any]
) -> None:
    assert filter_item(item) == expected


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("year", "KEY=VALUE"),
        ("=1", "KEY=VALUE"),
        ("t=[1]", "not an array"),
        ('o={"a":1}', "object"),
    ],
)
def test_bad_filters_are_usage_errors(item: str, reason: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=reason):
        filter_item(item)


def test_filters_combine_and_a_repeated_key_is_an_error() -> None:
    assert build_filter(None) is None
    assert build_filter([("a", 1), ("b", "x")]) == {"a": 1, "b": "x"}
    with pytest.raises(UsageError, match="--filter a given twice"):
        build_filter([("a", 1), ("a", 2)])


def test_compare_takes_texts_two_by_two() -> None:
    assert text_pairs(["a", "b", "c", "d"]) == [("a", "b"), ("c", "d")]
    with pytest.raises(UsageError, match="got 3 texts"):
        text_pairs(["a", "b", "c"])


def test_help_lists_every_command_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("info", "create", "collections", "describe", "drop", "upsert", "search"):
        assert f"    {command} " in out
    for command in ("get", "delete", "encode", "compare", "tokens"):
        assert f"    {command} " in out
    assert "simsearch serve" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["search", "demo"]) == 2
    assert main(["search", "demo", "q", "-k", "0"]) == 2
    assert main(["--timeout", "-1", "info"]) == 2
    assert main(["encode", "x", "--pooling", "max"]) == 2
    assert "invalid choice: 'max'" in capsys.readouterr().err


# -- commands --------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


COMMANDS = [
    ["info"],
    ["create", "demo", "--pooling", "mean", "--index", "HNSW32"],
    ["collections"],
    ["describe", "demo"],
    ["drop", "demo"],
    ["search", "demo", "q1", "q2", "-k", "2", "--filter", "year=2012", "--min-score", "0.1"],
    ["get", "demo", "a", "b"],
    ["delete", "demo", "d1", "x"],
    ["encode", "hello", "world", "--normalize"],
    ["compare", "a", "b", "c", "d"],
    ["tokens", "Hello world"],
    ["tokens", "a", "b"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv[:2]))
def test_every_command_prints_text_or_json(
    capsys: pytest.CaptureFixture[str], address: str, argv: list[str]
) -> None:
    code, out, err = run(capsys, "--address", address, *argv)
    assert (code, err) == (0, "")
    assert out.strip()
    code, out, err = run(capsys, *argv, "--json", "--address", address)  # options after it too
    assert (code, err) == (0, "")
    json.loads(out)


def test_search_prints_a_table_per_query(
    capsys: pytest.CaptureFixture[str], fake: FakeSimSearch, address: str
) -> None:
    code, out, _ = run(capsys, "search", "demo", "a cat", "-k", "2", "--address", address)
    assert code == 0
    assert out.splitlines() == [
        'query: "a cat"',
        "#   score  id  text                 metadata",
        '1  0.9000  d1  the first document   {"lang": "en", "year": 2012}',
        "2  0.5123  d2  the second document",
    ]
    (request,) = fake.sent("Search")
    assert not request.HasField("min_score")


def test_search_json(capsys: pytest.CaptureFixture[str], address: str) -> None:
    code, out, _ = run(capsys, "--json", "--address", address, "search", "demo", "q", "-k", "1")
    assert code == 0
    assert json.loads(out) == [
        {
            "query": "q",
            "hits": [
                {
                    "id": "d1",
                    "score": 0.9,
                    "text": "the first document",
                    "metadata": {"lang": "en", "year": 2012},
                }
            ],
        }
    ]


def test_encode_json_has_full_vectors(capsys: pytest.CaptureFixture[str], address: str) -> None:
    code, out, _ = run(capsys, "--address", address, "encode", "a", "b", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [row["embedding"] for row in rows] == [[0.0, 0.1, 0.2, 0.3], [0.4, 0.5, 0.6, 0.7]]


def test_upsert_sends_the_file_in_batches_and_summarises(
    capsys: pytest.CaptureFixture[str], fake: FakeSimSearch, address: str, tmp_path: Path
) -> None:
    lines = [json.dumps({"id": f"d{i}", "text": "LONG" if i == 3 else "t"}) for i in range(5)]
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    argv = ["--address", address, "upsert", "demo", str(path), "--batch-size", "2", "--truncate"]
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")  # no progress bar: stderr is not a terminal
    assert out.startswith("upserted 5 documents into 'demo' in ")
    assert out.rstrip().endswith("; 1 truncated: d3")
    assert [len(r.documents) for r in fake.sent("UpsertStream")] == [2, 2, 1]


def test_a_malformed_file_is_reported_by_line_and_nothing_is_sent(
    capsys: pytest.CaptureFixture[str], fake: FakeSimSearch, address: str, tmp_path: Path
) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "a", "text": "t"}\n{"id": "b"}\n\n{"id": "a", "text": "u"}\n')
    code, out, err = run(capsys, "--address", address, "upsert", "demo", str(path))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"{path}:2: missing 'text'",
        f"{path}:4: duplicate id 'a' (first on line 1)",
        "error: malformed input; nothing was upserted",
    ]
    assert fake.sent("Upsert") == []


def test_a_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str], address: str) -> None:
    code, _, err = run(capsys, "--address", address, "upsert", "demo", "/no/such/file.jsonl")
    assert code == 2
    assert err == "error: cannot read /no/such/file.jsonl: No such file or directory\n"


def test_server_errors_print_status_and_message_and_exit_1(
    capsys: pytest.CaptureFixture[str], fake: FakeSimSearch, address: str
) -> None:
    fake.fail("DescribeCollection", grpc.StatusCode.NOT_FOUND, "no collection named 'demo'")
    code, out, err = run(capsys, "--address", address, "describe", "demo")
    assert (code, out) == (1, "")
    assert err == "error: NOT_FOUND: no collection named 'demo'\n"
    fake.fail("Info", grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
    code, _, err = run(capsys, "--address", address, "info")
    assert (code, err) == (1, "error: UNIMPLEMENTED: Method not found!\n")


def test_an_unreachable_server_gets_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    address = closed_port_address()
    code, out, err = run(capsys, "--address", address, "collections")
    assert (code, out) == (1, "")
    assert err == f"error: cannot reach simsearch at {address}: is `simsearch serve` running?\n"


def test_the_address_defaults_to_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    monkeypatch.setenv("SIMSEARCH_ADDRESS", address)
    code, out, _ = run(capsys, "collections", "--json")
    assert code == 0
    assert [c["name"] for c in json.loads(out)] == ["alpha", "beta"]


def test_an_odd_number_of_texts_to_compare_exits_2(
    capsys: pytest.CaptureFixture[str], fake: FakeSimSearch, address: str
) -> None:
    code, _, err = run(capsys, "--address", address, "compare", "a", "b", "c")
    assert code == 2
    assert err.startswith("error: compare takes texts in pairs")
    assert fake.sent("Compare") == []
