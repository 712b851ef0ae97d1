"""Reading documents from JSON Lines: every malformed line reported as SOURCE:LINE: reason."""

from __future__ import annotations

import pytest

from simsearch.client.jsonl import JsonlError, read_documents
from simsearch.errors import InvalidArgumentError
from simsearch.types import Document


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
    assert read_documents(lines(source), "docs.jsonl") == [
        Document("a", "first", {"year": 2012, "tags": ["x"]}),
        Document("b", "中文 second", {}),
        Document("c", "third", {}),
    ]


def test_an_empty_input_has_no_documents() -> None:
    assert read_documents([], "empty.jsonl") == []


def test_every_malformed_line_is_reported_with_its_number() -> None:
    source = [
        b'{"id": "ok", "text": "fine"}\n',
        b'{"id": "a", "text": "x",}\n',
        b"[1, 2]\n",
        b'{"text": "no id"}\n',
        b'{"id": 5, "text": "numeric id"}\n',
        b'{"id": "m", "text": "t", "metadata": "x"}\n',
        b'{"id": "ok", "text": "again"}\n',
        b'{"id": "e", "text": "   "}\n',
        b'{"id": "n", "text": "t", "metadata": {"v": NaN}}\n',
        b'{"id": "u", "text": "\xff"}\n',
        b'{"id": "", "text": "t"}\n',
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
        "docs.jsonl:8: 'text' of 'e' is empty",
        "docs.jsonl:9: not valid JSON: NaN is not a JSON number",
        "docs.jsonl:10: not UTF-8: byte 22 is 0xff",
        "docs.jsonl:11: 'id' is empty",
    ]
    assert [line for line, _ in raised.value.problems] == list(range(2, 12))


def test_only_the_first_problems_are_listed() -> None:
    source = [b"not json\n"] * 30
    with pytest.raises(JsonlError) as raised:
        read_documents(source, "<stdin>", max_problems=3)
    assert len(raised.value.problems) == 3
    assert raised.value.total == 30
    assert str(raised.value).splitlines()[-1] == "<stdin>: 27 more malformed lines not shown"
