"""The collection contract: one suite run against every store (FAISS, milvus-lite, a real
Milvus server) through the engine's ``Catalog`` / ``Collection`` protocols, and a thin slice
through the gRPC server and client. See ``conftest.py`` for the stores."""
