"""Readable output: aligned tables, "…" shortening, wide characters, summaries, progress."""

from __future__ import annotations

import io

import numpy as np

from simsearch.client import render
from simsearch.client.progress import ProgressBar
from simsearch.client.results import UpsertResult
from simsearch.client.tables import (
    Column,
    display_width,
    format_fields,
    format_table,
    one_line,
    shorten,
)
from simsearch.types import Hit, SentenceEmbeddings


def test_columns_are_aligned_left_or_right_without_trailing_spaces() -> None:
    table = format_table(
        [Column("name"), Column("count", "right"), Column("note")],
        [("alpha", "1,234", ""), ("b", "7", "x")],
    )
    assert table.splitlines() == [
        "name   count  note",
        "alpha  1,234",
        "b          7  x",
    ]


def test_long_cells_are_shortened_with_an_ellipsis() -> None:
    assert shorten("abcdefghij", 10) == "abcdefghij"
    assert shorten("abcdefghijk", 10) == "abcdefghi…"
    assert shorten("abc", 1) == "…"
    assert shorten("abc", 0) == ""
    table = format_table([Column("text", max_width=8)], [("a rather long text",)])
    assert table.splitlines() == ["text", "a rathe…"]


def test_wide_characters_count_twice_and_combining_marks_not_at_all() -> None:
    assert display_width("中文") == 4
    assert display_width("e\u0301") == 1
    assert shorten("中文中文", 5) == "中文…"
    assert display_width(shorten("中文中文", 5)) == 5
    table = format_table([Column("a"), Column("b")], [("中文", "x"), ("ab", "y")])
    first, second = table.splitlines()[1:]
    assert display_width(first[: first.index("x")]) == second.index("y") == 6


def test_cells_are_made_one_line() -> None:
    assert one_line("a\nb\t\tc  ") == "a b c"
    assert format_table([Column("t")], [("two\nlines",)]).splitlines() == ["t", "two lines"]


def test_flexible_columns_shrink_to_fit_the_width_but_not_below_a_floor() -> None:
    columns = [Column("id"), Column("text", flexible=True), Column("meta", flexible=True)]
    rows = [("d1", "x" * 50, "y" * 30)]
    table = format_table(columns, rows, width=60)
    assert max(display_width(line) for line in table.splitlines()) == 60
    assert "…" in table
    narrow = format_table(columns, rows, width=5)
    assert narrow.splitlines()[1] == "d1  xxxxxxx…  yyyyyyy…"  # 8 columns each at least


def test_fields_align_their_values() -> None:
    assert format_fields([("name", "demo"), ("documents", "1,234")]).splitlines() == [
        "name       demo",
        "documents  1,234",
    ]
    assert format_fields([]) == ""


def test_hits_show_scores_with_four_decimals() -> None:
    hits = [[Hit("d1", 0.912345, "a cat sat", {"year": 2012}), Hit("d2", 0.5, "a dog", {})]]
    text = render.hits_text(["cat?"], hits, width=100)
    assert text.splitlines() == [
        'query: "cat?"',
        "#   score  id  text       metadata",
        '1  0.9123  d1  a cat sat  {"year": 2012}',
        "2  0.5000  d2  a dog",
    ]
    assert render.hits_text(["a", "b"], [[], []], width=80).split("\n\n") == [
        'query 1: "a"\n(no hits)',
        'query 2: "b"\n(no hits)',
    ]


def test_the_upsert_summary() -> None:
    result = UpsertResult(1000, ("a", "b"))
    assert render.upsert_summary("demo", result, 3.2) == (
        "upserted 1,000 documents into 'demo' in 3.2 s (312 docs/s); 2 truncated: a, b"
    )
    many = UpsertResult(10, tuple("abcdefg"))
    assert render.upsert_summary("demo", many, 1.0).endswith(
        "7 truncated: a, b, c, d, e and 2 more"
    )
    assert render.upsert_summary("demo", UpsertResult(0), 0.0).endswith("(0 docs/s)")


def test_embeddings_show_the_shape_and_a_preview() -> None:
    embeddings = (np.arange(20).reshape(2, 10) / 100).astype(np.float32)
    text = render.embeddings_text(
        ["a", "b"], SentenceEmbeddings(embeddings, (1,)), "pooling cls", 100
    )
    lines = text.splitlines()
    assert lines[0] == "2 × 10 float32, pooling cls"
    assert lines[2].endswith("[0.0000, 0.0100, 0.0200, 0.0300, …, 0.0900]")
    assert lines[-1] == "truncated to the model's maximum length: texts 1"


def test_the_progress_bar_draws_only_on_a_terminal_and_erases_itself() -> None:
    now = [0.0]
    stream = io.StringIO()
    with ProgressBar(
        100, label="upserting", stream=stream, enabled=True, clock=lambda: now[0]
    ) as bar:
        now[0] = 1.0
        bar.update(25)
        assert bar.render(1.0) == (
            "upserting [██████░░░░░░░░░░░░░░░░░░] 25/100  25%  25 docs/s  eta 3 s"
        )
        bar.update(25)  # within the interval: not drawn
    drawn = stream.getvalue()
    assert drawn.count("25/100") == 1
    assert drawn.endswith("\r")
    assert drawn.rsplit("\r", 2)[-2].strip() == ""  # the last draw blanks the line

    silent = io.StringIO()  # not a terminal
    with ProgressBar(10, stream=silent) as bar:
        bar.update(10)
    assert silent.getvalue() == ""
