"""Rewrite a collection's stored index string, as an older simsearch may have left it.

Versions before the index checks of ``IndexKind.parse`` accepted kinds such as ``"HNSW1"`` that
FAISS builds but crashes on at the first add. A test makes such a collection by creating a good
one and then editing the spec in its store's ``meta`` table, bypassing every check.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path


def set_stored_index(collection_dir: Path, index: str) -> None:
    """Set ``spec.index`` in ``collection_dir/store.sqlite3`` (no server may hold it open)."""
    db = sqlite3.connect(collection_dir / "store.sqlite3", isolation_level=None)
    try:
        (value,) = db.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()
        spec = json.loads(value)
        spec["index"] = index
        db.execute("UPDATE meta SET value = ? WHERE key = 'spec'", (json.dumps(spec),))
    finally:
        db.close()
