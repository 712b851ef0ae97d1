"""Readable tables for a terminal: aligned columns, long cells shortened with "…".

Widths are display widths: East Asian wide characters (such as 中文) take two columns and
combining marks none, so columns stay aligned for Chinese text too. Cells are made one line
(runs of whitespace, newlines included, become one space).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Column", "display_width", "format_fields", "format_table", "one_line", "shorten"]

ELLIPSIS = "…"
_MIN_FLEXIBLE = 8  # a flexible column is never shortened below this (or its header)


@dataclass(frozen=True)
class Column:
    """A table column.

    align: "right" for numbers.
    max_width: cells wider than this are shortened with "…".
    flexible: the column may be shortened further so the table fits the requested width.
    """

    header: str
    align: Literal["left", "right"] = "left"
    max_width: int | None = None
    flexible: bool = False


def char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    return sum(char_width(char) for char in text)


def one_line(text: str) -> str:
    return " ".join(text.split())


def shorten(text: str, width: int) -> str:
    """``text`` if it fits in ``width`` columns, else its start and "…" within ``width``."""
    if display_width(text) <= width:
        return text
    kept, used = [], 0
    for char in text:
        used += char_width(char)
        if used > width - 1:
            break
        kept.append(char)
    return "".join(kept) + ELLIPSIS if width > 0 else ""


def format_table(
    columns: Sequence[Column], rows: Sequence[Sequence[object]], *, width: int | None = None
) -> str:
    """Rows under their headers, two spaces between columns, no trailing spaces.

    width: when given, flexible columns are shortened (widest first) to fit it if they can.
    """
    cells = [[one_line(str(cell)) for cell in row] for row in rows]
    widths = [_natural_width(col, [row[i] for row in cells]) for i, col in enumerate(columns)]
    if width is not None:
        widths = _fit(columns, widths, width)
    lines = [_line([col.header for col in columns], columns, widths)]
    lines.extend(_line(row, columns, widths) for row in cells)
    return "\n".join(lines)


def format_fields(fields: Sequence[tuple[str, object]]) -> str:
    """A key/value listing, keys aligned: ``name       demo``."""
    key_width = max((display_width(key) for key, _ in fields), default=0)
    lines = [
        f"{key}{' ' * (key_width - display_width(key))}  {one_line(str(value))}".rstrip()
        for key, value in fields
    ]
    return "\n".join(lines)


def _natural_width(column: Column, cells: list[str]) -> int:
    widest = max((display_width(cell) for cell in cells), default=0)
    if column.max_width is not None:
        widest = min(widest, column.max_width)
    return max(widest, display_width(column.header))


def _fit(columns: Sequence[Column], widths: list[int], width: int) -> list[int]:
    """Shorten the widest flexible column one step at a time until the table fits."""
    widths = list(widths)
    floors = {
        i: max(_MIN_FLEXIBLE, display_width(col.header))
        for i, col in enumerate(columns)
        if col.flexible
    }
    overflow = sum(widths) + 2 * (len(widths) - 1) - width
    while overflow > 0:
        shrinkable = [i for i, floor in floors.items() if widths[i] > floor]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
        overflow -= 1
    return widths


def _line(cells: Sequence[str], columns: Sequence[Column], widths: list[int]) -> str:
    parts = []
    for cell, column, width in zip(cells, columns, widths, strict=True):
        text = shorten(cell, width)
        padding = " " * (width - display_width(text))
        parts.append(padding + text if column.align == "right" else text + padding)
    return "  ".join(parts).rstrip()
