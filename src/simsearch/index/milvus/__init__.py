"""Collections in Milvus: the second implementation of the engine's ``Catalog`` and
``Collection`` protocols, next to FAISS (``simsearch.index``). The only home of pymilvus,
installed with the extra ``simsearch[milvus]``.

Modules, one job each: ``names`` (simsearch names <-> Milvus names), ``expressions`` (safely
quoted filter expressions and the exact re-check of hits), ``kinds`` (index strings -> Milvus
index types and search parameters), ``limits`` (Milvus' limits, checked before any write),
``schema`` (fields and the catalog record kept in collection properties), ``failures``
(pymilvus errors -> simsearch errors), ``collection`` and ``catalog``.
"""

from simsearch.index.milvus.catalog import MilvusCatalog
from simsearch.index.milvus.collection import MilvusCollection

__all__ = ["MilvusCatalog", "MilvusCollection"]
