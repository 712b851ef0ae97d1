"""`simsearch collections` and `describe`, text and --json, for collections the server could
not open (``CollectionInfo.unavailable``): the cause is shown, with what to do about it."""

from __future__ import annotations

import json

from simsearch.cli import json_output, render
from simsearch.cli.output import plain_text
from simsearch.types import CollectionInfo, CollectionSpec, Pooling

CAUSE = "the store /data/bad/store.sqlite3 is damaged (Page 3: btreeInitPage() returns error 11)"


def _info(name: str, *, unavailable: str = "", known: bool = True) -> CollectionInfo:
    spec = CollectionSpec(
        name=name,
        pooling=Pooling.MEAN if known else Pooling.POOLER,
        index="HNSW32" if known else "",
        dimension=384 if known else 0,
        model_name="minilm" if known else "",
        model_fingerprint="abc123" if known else "",
    )
    count = 0 if unavailable else 1234
    return CollectionInfo(spec, count, 1.7e9 if known else 0.0, known, unavailable)


def test_describe_leads_with_the_cause_and_the_fix() -> None:
    lines = plain_text(render.collection_text(_info("bad", unavailable=CAUSE))).splitlines()
    assert lines[:3] == [
        "name          bad",
        f"status        UNAVAILABLE: {CAUSE}",
        "to fix        drop it (simsearch drop bad), or repair its files and restart the server; "
        "it serves nothing until then",
    ]
    assert "index         HNSW32" in lines and not any(
        line.startswith("documents") for line in lines
    )


def test_describe_of_an_unreadable_store_shows_only_what_is_known() -> None:
    text = plain_text(render.collection_text(_info("bad", unavailable=CAUSE, known=False)))
    assert [line.split()[0] for line in text.splitlines()] == ["name", "status", "to"]


def test_a_usable_collection_is_described_as_before() -> None:
    text = plain_text(render.collection_text(_info("good")))
    assert "UNAVAILABLE" not in text and "documents     1,234" in text


def test_the_table_gets_an_unavailable_column_and_a_hint_only_when_needed() -> None:
    good = _info("good")
    assert "unavailable" not in plain_text(render.collections_table([good]), 200)
    table = plain_text(
        render.collections_table(
            [_info("bad", unavailable=CAUSE, known=False), good, _info("old", unavailable="x")]
        ),
        200,
    )
    header, bad, ok, old, blank, hint = table.splitlines()
    assert header.split()[-2:] == ["compatible", "unavailable"]
    assert bad.split()[:9] == ["bad", *["-"] * 7, "the"] and bad.endswith("error 11)")
    assert ok.split()[1] == "1,234" and ok.rstrip().endswith("yes")
    assert old.split()[1:3] == ["-", "384"] and old.endswith("x")
    assert blank == ""
    assert hint.startswith("unavailable: bad, old (`simsearch describe NAME` says why)")


def test_json_carries_the_cause() -> None:
    assert json_output.collection_json(_info("good"))["unavailable"] == ""
    described = json_output.collection_json(_info("bad", unavailable=CAUSE, known=False))
    assert json.loads(json.dumps(described))["unavailable"] == CAUSE
