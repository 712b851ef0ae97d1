"""The FAISS collection's export pages: a keyset page over the id's index of the SQLite store,
in code point order, every row checked against its checksum (a damaged one is DataLossError,
whatever part of it rotted, an id that is no longer UTF-8 included)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from simsearch.errors import DataLossError
from simsearch.index import FaissCatalog
from simsearch.index.collection import STORE_FILE
from simsearch.types import Document
from unit.index_fixtures import spec, unit_vectors

# UTF-8 byte order is code point order; UTF-16 order (Java, JavaScript) would put U+10000
# before U+FFFF, NOCASE and locale collations would mix "Z" and "a".
IDS = ["b", "a", "Z", "é", "\uffff", "\U00010000", "中", "a b", "ab", "0", "\x7f", "\x80"]


def _filled(tmp_path: Path) -> tuple[FaissCatalog, list[Document]]:
    catalog = FaissCatalog(tmp_path)
    collection = catalog.create(spec())
    docs = [Document(i, f"text of {i}", {"n": n, "id": i}) for n, i in enumerate(IDS)]
    collection.upsert(docs, unit_vectors(len(docs), seed=1))
    return catalog, sorted(docs, key=lambda doc: doc.id)


def test_pages_in_code_point_order(tmp_path: Path) -> None:
    catalog, expected = _filled(tmp_path)
    collection = catalog.open("docs")
    assert collection.documents_after("", 100) == expected
    assert collection.documents_after("", 5) == expected[:5]
    assert collection.documents_after(expected[4].id, 5) == expected[5:10]
    assert collection.documents_after("\U0010ffff", 5) == []
    assert collection.documents_after("a", 100) == [doc for doc in expected if doc.id > "a"]
    catalog.close()


def test_a_page_is_a_keyset_read_of_the_id_index(tmp_path: Path) -> None:
    """No scan of the table and no sort: a page near the end costs what one at the start
    does (SQLite's plan, asked of the same statement)."""
    catalog, _ = _filled(tmp_path)
    catalog.close()
    db = sqlite3.connect(tmp_path / "docs" / STORE_FILE)
    try:
        plan = " ".join(
            row[3]
            for row in db.execute(
                "EXPLAIN QUERY PLAN SELECT label, id, text, metadata, content_crc FROM docs "
                "WHERE id > ? ORDER BY id LIMIT ?",
                ("a", 5),
            )
        )
    finally:
        db.close()
    assert "USING INDEX" in plan and "(id>?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE docs SET text = 'lext of 中' WHERE id = '中'",
        "UPDATE docs SET metadata = '{\"n\":1}' WHERE id = '中'",
        "UPDATE docs SET id = CAST(X'e4b8adff' AS TEXT) WHERE id = '中'",  # not UTF-8
    ],
)
def test_a_damaged_row_fails_its_page(tmp_path: Path, damage: str) -> None:
    catalog, expected = _filled(tmp_path)
    db = sqlite3.connect(tmp_path / "docs" / STORE_FILE, isolation_level=None)
    try:
        assert db.execute(damage).rowcount == 1
    finally:
        db.close()
    collection = catalog.open("docs")
    before = [doc for doc in expected if doc.id < "中"]
    assert collection.documents_after("", len(before)) == before
    with pytest.raises(DataLossError, match="document '中"):
        collection.documents_after("", 100)
    catalog.close()
