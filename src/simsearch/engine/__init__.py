"""The transport-free core: validation, encoding and collection operations."""

from simsearch.engine.core import Engine, SearchResults
from simsearch.engine.ports import Catalog, Collection, Encoder, Filter

__all__ = ["Catalog", "Collection", "Encoder", "Engine", "Filter", "SearchResults"]
