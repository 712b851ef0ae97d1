"""The only home of faiss: durable collections of documents with a vector index each.

A collection keeps its documents, metadata and sentence embeddings in SQLite (the truth) and a
FAISS index derived from them, snapshotted atomically and rebuilt from the store when lost.
``FaissCatalog`` and ``FaissCollection`` implement the ``Catalog`` and ``Collection`` protocols
of ``simsearch.engine.ports``. Index kinds are described in ``simsearch.index.kinds``.
"""

from simsearch.index.catalog import FaissCatalog
from simsearch.index.collection import FaissCollection

__all__ = ["FaissCatalog", "FaissCollection"]
