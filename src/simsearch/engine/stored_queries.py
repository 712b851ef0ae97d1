"""Search by stored id ("more like this"): stored documents as queries, never as hits.

Each id's stored (raw) sentence vector is one query, as if sent as a vector, so the
collection's search applies its calibration to it as to any query; with a rerank, each id's
stored text is the query text. The collection is searched through :class:`ExcludingIds`,
which asks for ``k`` more hits than wanted for each distinct id of the request and drops
those ids, so every hit is another document (a search never has more than ``k`` + that
many to drop). ``k`` itself stays within ``max_k``; the extra hits are this module's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from simsearch.engine import validation as check
from simsearch.engine.ports import Collection, Filter
from simsearch.errors import NotFoundError, first_few
from simsearch.types import Document, FloatArray, Hit, Limits, SearchParams, StoredIds

__all__ = ["ExcludingIds", "existing_documents", "stored_queries"]


class ExcludingIds:
    """A collection whose searches leave out some ids; every other call goes to it."""

    def __init__(self, collection: Collection, ids: Sequence[str]) -> None:
        self._collection = collection
        self._excluded = frozenset(ids)

    def search(
        self,
        queries: FloatArray,
        k: int,
        filter: Filter | None = None,
        params: SearchParams | None = None,
    ) -> list[list[Hit]]:
        """``Collection.search`` with none of the excluded ids among the (at most) k hits."""
        rows = self._collection.search(queries, k + len(self._excluded), filter, params)
        return [[hit for hit in row if hit.id not in self._excluded][:k] for row in rows]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


def stored_queries(
    target: Collection, queries: StoredIds, limits: Limits, *, texts: bool
) -> tuple[Collection, list[str] | FloatArray]:
    """The collection to search (excluding the ids) and the queries: the ids' stored texts
    (``texts``, for a rerank) or their stored vectors ``(n, d) float32``.

    The ids are checked (``check_ids``); unknown ones are NotFoundError naming them."""
    ids = list(queries.ids)
    check.check_ids("ids", ids, limits)
    documents = existing_documents(target, ids)
    excluding = cast(Collection, ExcludingIds(target, ids))
    if texts:
        return excluding, [doc.text for doc in documents]
    return excluding, target.get_embeddings(ids)


def existing_documents(target: Collection, ids: Sequence[str]) -> list[Document]:
    """The documents of already checked ids, in order; NotFoundError names unknown ones."""
    found = target.get(ids)
    missing = [doc_id for doc_id, doc in zip(ids, found, strict=True) if doc is None]
    if missing:
        raise NotFoundError(
            f"collection {target.spec.name!r} has no documents with ids {first_few(missing)}"
        )
    return [doc for doc in found if doc is not None]
