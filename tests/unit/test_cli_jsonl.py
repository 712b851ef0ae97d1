"""Documents as JSON Lines: every malformed line reported as SOURCE:LINE: reason, each document
checked as the server will check it, and what export writes read back the same."""

from __future__ import annotations

import io

import pytest

from simsearch.cli.jsonl import JsonlError, check_documents, read_documents, write_document
from simsearch.errors import InvalidArgumentError
from simsearch.types import Document, Limits


def lines(text: str) -> list[bytes]:
    return text.encode("utf-8").splitlines(keepends=True)


def test_documents_are_read_in_order_skipping_blank_lines() -> None:
    source = (
        '\ufeff{"id": "a", "text": "first", "metadata": {"year": 2012, "tags": ["x"]}}\n'
        "\n"
        "   \n"
        '{"id": "b", "text": "中文 second"}\r\n'
        '{"id": "c", "text": "third", "metadata": null}'
    )
    read = read_documents(lines(source), "docs.jsonl")
    assert read.documents == [
        Document("a", "first", {"year": 2012, "tags": ["x"]}),
        Document("b", "中文 second", {}),
        Document("c", "third", {}),
    ]
    assert read.lines == [1, 4, 5]
    assert read.where(1) == "docs.jsonl:4 (id 'b')"


def test_an_empty_input_has_no_documents() -> None:
    assert read_documents([], "empty.jsonl").documents == []


def test_every_malformed_line_is_reported_with_its_number() -> None:
    source = [
        b'{"id": "ok", "text": "fine"}\n',
        b'{"id": "a", "text": "x",}\n',
        b"[1, 2]\n",
        b'{"text": "no id"}\n',
        b'{"id": 5, "text": "numeric id"}\n',
        b'{"id": "m", "text": "t", "metadata": "x"}\n',
        b'{"id": "ok", "text": "again"}\n',
        b'{"id": "n", "text": "t", "metadata": {"v": NaN}}\n',
        b'{"id": "u", "text": "\xff"}\n',
        b'{"id": "c", "text": "t", "metadata": {}\n',
    ]
    with pytest.raises(JsonlError) as raised:
        read_documents(source, "docs.jsonl")
    assert isinstance(raised.value, InvalidArgumentError)
    assert str(raised.value).splitlines() == [
        "docs.jsonl:2: not valid JSON: Expecting property name enclosed in double quotes "
        "(column 25)",
        "docs.jsonl:3: expected a JSON object, got an array",
        "docs.jsonl:4: missing 'id'",
        "docs.jsonl:5: 'id' must be a string, got a number",
        "docs.jsonl:6: 'metadata' must be an object, got a string",
        "docs.jsonl:7: duplicate id 'ok' (first on line 1)",
        "docs.jsonl:8: not valid JSON: NaN is not a JSON number",
        "docs.jsonl:9: not UTF-8: byte 22 is 0xff",
        # At the end of the line, not at column 1 of the next one.
        "docs.jsonl:10: not valid JSON: Expecting ',' delimiter (column 40)",
    ]
    assert [line for line, _ in raised.value.problems] == list(range(2, 11))


def test_only_the_first_problems_are_listed() -> None:
    source = [b"not json\n"] * 30
    with pytest.raises(JsonlError) as raised:
        read_documents(source, "<stdin>", max_problems=3)
    assert len(raised.value.problems) == 3
    assert raised.value.total == 30
    assert str(raised.value).splitlines()[-1] == "<stdin>: 27 more malformed lines not shown"


def test_documents_are_checked_as_the_server_checks_them() -> None:
    source = [
        b'{"id": "ok", "text": "fine", "metadata": {"k": [1, "x"]}}\n',
        b'{"id": "e", "text": "   "}\n',
        b'{"id": "", "text": "t"}\n',
        b'{"id": "' + b"x" * 513 + b'", "text": "t"}\n',
        b'{"id": "z\\u0000", "text": "t"}\n',
        b'{"id": "long", "text": "' + b"t" * 11 + b'"}\n',
        b'{"id": "m", "text": "t", "metadata": {"k": "a\\u0000"}}\n',
    ]
    read = read_documents(source, "docs.jsonl")
    with pytest.raises(JsonlError) as raised:
        check_documents(read, Limits(max_text_chars=10))
    problems = dict(raised.value.problems)
    assert sorted(problems) == [2, 3, 4, 5, 6, 7]
    assert "nothing to embed" in problems[2] and problems[2].endswith("(id 'e')")
    assert "empty" in problems[3]
    assert "at most 512" in problems[4]
    assert "U+0000" in problems[5] and "U+0000" in problems[7]
    assert "the limit is 10" in problems[6]
    check_documents(read_documents(source[:1], "ok.jsonl"), Limits())


def test_what_export_writes_upsert_reads_back() -> None:
    documents = [Document("a", "中文 text", {"year": 2012, "tags": ["x"]}), Document("b", "t", {})]
    out = io.StringIO()
    for document in documents:
        write_document(document, out)
    assert read_documents(lines(out.getvalue()), "export.jsonl").documents == documents
