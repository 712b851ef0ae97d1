"""The ``simsearch`` command: parsing, and each client command against a fake server over real
gRPC (``main`` in this process, output through pytest's capture)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import grpc
import pytest

from simsearch.cli import main
from simsearch.cli.failure import CommandError
from simsearch.cli.options import FILTER, build_filter, text_pairs
from unit.client_fakes import FakeSimSearch, closed_port_address, running


@pytest.fixture
def fake() -> FakeSimSearch:
    return FakeSimSearch()


@pytest.fixture
def address(fake: FakeSimSearch) -> Iterator[str]:
    with running(fake) as address:
        yield address


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- values click cannot parse alone ----------------------------------------------------------


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
        ("genre==news", ("genre", "news")),  # == is equality too, never the value "=news"
        ("year==2012", ("year", 2012)),
        ('lead="=x"', ("lead", "=x")),  # a value that starts with = is quoted
    ],
)
def test_filter_values_are_json_when_they_parse_else_strings(
    item: str, expected: tuple[str, Any]
) -> None:
    assert FILTER.convert(item, None, None) == expected


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("year", "KEY=VALUE"),
        ("=1", "KEY=VALUE"),
        ("t=[1]", "not an array"),
        ('o={"a":1}', "object"),
        ("year>=2012", "equality only"),
        ("year<=2012", "equality only"),
        ("genre!=news", "equality only"),
    ],
)
def test_filters_that_would_match_nothing_are_refused(item: str, reason: str) -> None:
    with pytest.raises(click.BadParameter, match=reason):
        FILTER.convert(item, None, None)


def test_filters_combine_and_a_repeated_key_is_an_error() -> None:
    assert build_filter(()) is None
    assert build_filter([("a", 1), ("b", "x")]) == {"a": 1, "b": "x"}
    with pytest.raises(CommandError, match="--filter a given twice"):
        build_filter([("a", 1), ("a", 2)])


def test_compare_takes_texts_two_by_two() -> None:
    assert text_pairs(["a", "b", "c", "d"]) == [("a", "b"), ("c", "d")]
    with pytest.raises(CommandError, match="got 3 texts"):
        text_pairs(["a", "b", "c"])


# -- help and usage ---------------------------------------------------------------------------


def test_help_lists_every_command_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    for command in ("serve", "info", "create", "collections", "describe", "drop", "upsert"):
        assert command in listed
    for command in ("search", "rerank", "get", "delete", "export", "encode", "compare", "tokens"):
        assert command in listed
    assert "simsearch serve" in out


def test_upsert_help_says_what_is_checked_before_sending(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "upsert", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "nothing is sent" in text
    assert "length in tokens is known to the server alone" in text


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["search", "demo"]) == 2
    assert main(["search", "demo", "q", "-k", "0"]) == 2
    assert main(["--timeout", "-1", "info"]) == 2
    assert main(["encode", "x", "--pooling", "max"]) == 2
    assert "'max' is not one of" in capsys.readouterr().err


def test_a_key_on_the_command_line_is_refused_without_echoing_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--api-key", "s3cret-s3cret-s3cret", "info"]) == 2
    assert "s3cret" not in capsys.readouterr().err


# -- commands ---------------------------------------------------------------------------------


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


def test_options_after_the_command_win(capsys: pytest.CaptureFixture[str], address: str) -> None:
    code, out, _ = run(
        capsys, "--address", closed_port_address(), "collections", "--address", address
    )
    assert code == 0 and "alpha" in out


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


def test_filter_with_double_equals_sends_the_value(
    capsys: pytest.CaptureFixture[str], fake: FakeSimSearch, address: str
) -> None:
    code, _, _ = run(capsys, "--address", address, "search", "demo", "q", "--filter", "genre==news")
    assert code == 0
    (request,) = fake.sent("Search")
    assert dict(request.filter) == {"genre": "news"}


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


def test_tokens_show_the_unknown_count(capsys: pytest.CaptureFixture[str], address: str) -> None:
    code, out, err = run(capsys, "--address", address, "tokens", "Hello world")
    assert code == 0 and err == ""
    assert out.splitlines()[-1] == "unknown tokens: 0"
    code, out, _ = run(capsys, "--address", address, "tokens", "Hello world", "--json")
    assert json.loads(out)["unknown_tokens"] == 0


# -- upsert -----------------------------------------------------------------------------------


def write_lines(path: Path, *documents: dict[str, Any] | str) -> Path:
    lines = [doc if isinstance(doc, str) else json.dumps(doc) for doc in documents]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_upsert_sends_the_file_in_batches_and_summarises(
    capsys: pytest.CaptureFixture[str], fake: FakeSimSearch, address: str, tmp_path: Path
) -> None:
    docs = [{"id": f"d{i}", "text": "LONG" if i == 3 else "t"} for i in range(5)]
    path = write_lines(tmp_path / "docs.jsonl", *docs)
    argv = ["--address", address, "upsert", "demo", str(path), "--batch-size", "2", "--truncate"]
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")  # no progress bar: stderr is not a terminal
    assert out.startswith("upserted 5 documents into 'demo' in ")
    assert out.rstrip().endswith("; 1 truncated: d3")
    assert [len(r.documents) for r in fake.sent("UpsertStream")] == [2, 2, 1]


def test_one_document_is_singular(
    capsys: pytest.CaptureFixture[str], address: str, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "one.jsonl", {"id": "a", "text": "t"})
    code, out, _ = run(capsys, "--address", address, "upsert", "demo", str(path))
    assert code == 0 and out.startswith("upserted 1 document into 'demo' in ")


def test_a_malformed_file_is_reported_by_line_and_nothing_is_sent(
    capsys: pytest.CaptureFixture[str], fake: FakeSimSearch, address: str, tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path / "docs.jsonl",
        {"id": "a", "text": "t"},
        {"id": "b"},
        "",
        {"id": "a", "text": "u"},
        '{"id": "c", "text": "v", "metadata": {}',  # the error is at the end of the line
    )
    code, out, err = run(capsys, "--address", address, "upsert", "demo", str(path))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"{path}:2: missing 'text'",
        f"{path}:4: duplicate id 'a' (first on line 1)",
        f"{path}:5: not valid JSON: Expecting ',' delimiter (column 40)",
        "error: malformed input; nothing was upserted",
    ]
    assert fake.sent("UpsertStream") == []


def test_what_the_server_would_refuse_is_found_before_sending(
    capsys: pytest.CaptureFixture[str], fake: FakeSimSearch, address: str, tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path / "docs.jsonl",
        {"id": "ok", "text": "fine"},
        {"id": "x" * 513, "text": "t"},
        {"id": "nul\u0000", "text": "t"},
        {"id": "blank", "text": " \u200b "},
        {"id": "big", "text": "t" * 501},  # the fake server's max_text_chars is 500
        {"id": "", "text": "t"},
    )
    code, _, err = run(capsys, "--address", address, "upsert", "demo", str(path))
    assert code == 2
    problems = err.splitlines()
    assert [line.split(":")[1] for line in problems[:-1]] == ["2", "3", "4", "5", "6"]
    assert "at most 512" in problems[0] and "U+0000" in problems[1]
    assert "nothing to embed" in problems[2] and "(id 'blank')" in problems[2]
    assert "500" in problems[3]
    assert problems[-1] == "error: malformed input; nothing was upserted"
    assert fake.sent("UpsertStream") == []


def test_a_failed_chunk_names_the_line_and_the_id(
    capsys: pytest.CaptureFixture[str], fake: FakeSimSearch, address: str, tmp_path: Path
) -> None:
    docs: list[dict[str, Any] | str] = [{"id": f"d{i}", "text": "t"} for i in range(5)]
    docs.insert(3, "")  # a blank line: document 3 is on line 5
    path = write_lines(tmp_path / "docs.jsonl", *docs)
    fake.fail(
        "UpsertStream",
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 1 has 5002 tokens; the model's limit is 512: shorten it or ask for truncation "
        "(2 documents were committed before)",
        after=1,
    )
    argv = ["--address", address, "upsert", "demo", str(path), "--batch-size", "2"]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    first, second = err.splitlines()
    assert first.startswith(f"error: INVALID_ARGUMENT: {path}:5 (id 'd3'): input 1 has 5002")
    assert second.startswith(f"2 of 5 documents were committed ({path} lines 1-2)")
    assert second.endswith("running the same command again is safe")


def test_ctrl_c_says_what_was_committed_and_that_rerunning_is_safe(
    capsys: pytest.CaptureFixture[str], fake: FakeSimSearch, address: str, tmp_path: Path
) -> None:
    """The Ctrl-C comes while the file is checked (during Info), so no document is sent: the
    stream still ends cleanly and the server's count is reported."""

    class Interrupting(FakeSimSearch):
        def Info(self, request: Any, context: Any) -> Any:  # noqa: N802
            os.kill(os.getpid(), signal.SIGINT)
            return super().Info(request, context)

    path = write_lines(tmp_path / "docs.jsonl", *({"id": f"d{i}", "text": "t"} for i in range(3)))
    with running(Interrupting()) as interrupting:
        code, out, err = run(capsys, "--address", interrupting, "upsert", "demo", str(path))
    assert (code, out) == (130, "")
    assert err.splitlines()[-1] == (
        "interrupted: 0 of 3 documents were committed; upsert replaces documents by id, so "
        "running the same command again is safe"
    )


def test_a_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str], address: str) -> None:
    code, _, err = run(capsys, "--address", address, "upsert", "demo", "/no/such/file.jsonl")
    assert code == 2
    assert err == "error: cannot read /no/such/file.jsonl: No such file or directory\n"


# -- failures ---------------------------------------------------------------------------------


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
