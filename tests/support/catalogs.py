"""What a catalog holds, compared before and after an operation that must change nothing."""

from __future__ import annotations

from typing import Any

import numpy as np

from simsearch.index import FaissCatalog

__all__ = ["stored"]


def stored(catalog: FaissCatalog) -> dict[str, Any]:
    """Everything the catalog holds: per collection its spec, count and every document with
    its score against a fixed probe vector (which changes when an embedding changes)."""
    state = {}
    for name in catalog.names():
        collection = catalog.open(name)
        probe = np.random.default_rng(7).standard_normal((1, collection.spec.dimension))
        probe = (probe / np.linalg.norm(probe)).astype(np.float32)
        hits = collection.search(probe, 1000)[0]
        rows = sorted((h.id, round(h.score, 5), h.text, repr(h.metadata)) for h in hits)
        state[name] = (collection.spec, collection.count(), rows)
    return state
