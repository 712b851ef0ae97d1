"""simsearch: semantic similarity search over gRPC with BERT embeddings and FAISS."""

__version__ = "0.1.0"

__all__ = ["__version__"]
