"""The simsearch Python client: ``Client`` and the types its methods return.

    from simsearch.client import Client

    with Client("127.0.0.1:50051") as client:
        client.create_collection("demo", pooling="mean")
        client.upsert("demo", [{"id": "1", "text": "a cat sat", "metadata": {"year": 2012}}])
        hits = client.search("demo", "where did the cat sit?", k=5)[0]

Errors are the classes of ``simsearch.errors``. This package imports neither torch nor faiss:
``pip install simsearch`` without the ``[server]`` extra is enough to use it.
"""

from simsearch.client.client import Client
from simsearch.client.mining import MinedPairs
from simsearch.client.results import CompareResult, ServerInfo, UpsertResult
from simsearch.client.rpc import ServerUnreachableError
from simsearch.types import (
    Calibration,
    CalibrationKind,
    CalibrationState,
    Classifications,
    ClassifierHead,
    CollectionInfo,
    CollectionSpec,
    Document,
    Hit,
    Limits,
    ModelInfo,
    Pooling,
    ScoredPair,
    SentenceEmbeddings,
    TokenEmbeddings,
)

__all__ = [
    "Calibration",
    "CalibrationKind",
    "CalibrationState",
    "Classifications",
    "ClassifierHead",
    "Client",
    "CollectionInfo",
    "CollectionSpec",
    "CompareResult",
    "Document",
    "Hit",
    "Limits",
    "MinedPairs",
    "ModelInfo",
    "Pooling",
    "ScoredPair",
    "SentenceEmbeddings",
    "ServerInfo",
    "ServerUnreachableError",
    "TokenEmbeddings",
    "UpsertResult",
]
