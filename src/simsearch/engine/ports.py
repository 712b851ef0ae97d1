"""The interfaces the engine needs from the outside world, owned here.

The engine talks to an :class:`Encoder` (implemented in ``simsearch.encoder`` with torch) and a
:class:`Catalog` of :class:`Collection` objects (implemented in ``simsearch.index`` with FAISS and
SQLite). Both are protocols, so the engine imports neither torch nor faiss and its tests run with
fakes. A second collection backend (e.g. Milvus) needs no change outside its own package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from simsearch.types import (
    CalibrationState,
    Classifications,
    CollectionInfo,
    CollectionSpec,
    Document,
    FloatArray,
    Hit,
    ModelInfo,
    Pooling,
    SearchParams,
    SentenceEmbeddings,
    TextInput,
    TokenEmbeddings,
    TokenVectors,
)

__all__ = ["Admit", "Catalog", "Collection", "Encoder", "Filter"]

# Metadata equality filter: every key must be present in a document's metadata with an equal
# scalar value (str, int/float compared as numbers, bool, None). Booleans never equal numbers.
Filter = Mapping[str, Any]

# Called with each input's tokens once tokenized, before any model work: every field of the
# ``TokenEmbeddings`` the call will return, but ``embeddings`` with zero columns. An error it
# raises fails the call there (the engine refuses responses too large to send this way).
Admit = Callable[[Sequence[TokenEmbeddings]], None]


class Encoder(Protocol):
    """Turns texts (or text pairs, as segments A and B) into vectors. Thread-safe."""

    @property
    def info(self) -> ModelInfo: ...

    def encode(
        self,
        inputs: Sequence[TextInput],
        pooling: Pooling,
        *,
        normalize: bool,
        truncate: bool,
    ) -> SentenceEmbeddings:
        """Sentence embeddings, ``(n, d) float32``, row i for ``inputs[i]``.

        An input longer than the model's maximum length raises ``InvalidArgumentError``
        (naming its index and token count) unless ``truncate``; then it is cut and its index
        is listed in ``truncated``.
        """
        ...

    def encode_tokens(
        self, inputs: Sequence[TextInput], *, truncate: bool, admit: Admit | None = None
    ) -> list[TokenEmbeddings]:
        """``last_hidden_state`` per input, padding removed. Same truncation rule as encode.

        ``admit``: see :data:`Admit`; the inputs are tokenized once, for both."""
        ...

    def encode_with_tokens(
        self,
        inputs: Sequence[TextInput],
        pooling: Pooling,
        *,
        truncate: bool,
        admit: Admit | None = None,
    ) -> tuple[SentenceEmbeddings, list[TokenEmbeddings]]:
        """Normalised sentence embeddings and token embeddings of the same inputs, in one pass
        through the model where the implementation can. ``admit`` as in encode_tokens."""
        ...

    def classify(self, inputs: Sequence[TextInput], *, truncate: bool) -> Classifications:
        """The model's sequence-classification head (``info.head``) on each input's pooler
        output, a pair encoded jointly: logits and probabilities ``(n, labels) float32``.
        Same truncation rule as encode; ``FailedPreconditionError`` when ``info.head`` is
        None."""
        ...

    def close(self) -> None:
        """Release threads and the model; later calls fail with ``UnavailableError``."""
        ...


class Collection(Protocol):
    """One collection: durable documents plus a vector index over their embeddings.

    Thread-safe. Every mutating call returns only after the change is durably committed.
    """

    @property
    def spec(self) -> CollectionSpec: ...

    @property
    def created_at(self) -> float: ...

    def count(self) -> int:
        """Number of live documents."""
        ...

    def upsert(
        self,
        documents: Sequence[Document],
        embeddings: FloatArray,
        tokens: Sequence[TokenVectors] | None = None,
    ) -> None:
        """Insert or replace by id. ``embeddings``: ``(n, d) float32``, L2-normalised, row i for
        ``documents[i]``. Ids within one call are unique (the engine checks).

        ``tokens``: each document's normalised token vectors; required (one per document) when
        ``spec.store_tokens``, ignored otherwise. Stored as float16 with the document, in the
        same commit."""
        ...

    def delete(self, ids: Sequence[str]) -> int:
        """Remove documents; unknown ids are ignored. Returns how many existed."""
        ...

    def get(self, ids: Sequence[str]) -> list[Document | None]:
        """Documents in the order asked, None where an id is unknown."""
        ...

    def documents_after(self, after_id: str, limit: int) -> list[Document]:
        """One page of an export: up to ``limit`` (> 0) documents whose id sorts after
        ``after_id`` ("" sorts first), in id order (Unicode code points, which is the byte
        order of UTF-8). Fewer than ``limit`` only when no more follow. Reads no vectors, so it
        serves collections of another model too. Pages are not a snapshot: a write between two
        pages shows in the later page if its id sorts after the first page's last."""
        ...

    def get_embeddings(self, ids: Sequence[str]) -> FloatArray:
        """Stored embeddings ``(n, d) float32`` for ids that all exist (else NotFoundError)."""
        ...

    def get_token_vectors(self, ids: Sequence[str]) -> list[TokenVectors]:
        """Stored token vectors (float16 rows) in the order asked, for ids that all exist
        (else NotFoundError). FailedPreconditionError unless ``spec.store_tokens``."""
        ...

    def search(
        self,
        queries: FloatArray,
        k: int,
        filter: Filter | None = None,
        params: SearchParams | None = None,
    ) -> list[list[Hit]]:
        """Top-k by inner product for each row of ``queries`` (``(nq, d) float32``, normalised).

        Hits are sorted by descending score; fewer than k when fewer documents match.
        ``params`` overrides the index's search parameters (efSearch, nprobe) for this call.
        """
        ...

    def checkpoint(self) -> None:
        """Write the vector index snapshot now (it is rebuilt from the store if lost)."""
        ...

    def calibration_state(self) -> CalibrationState:
        """The collection's calibration, its auto-fit threshold and its current fit."""
        ...

    def calibrate(self) -> None:
        """Refit the calibration on the stored vectors now and rebuild the index from them;
        returns once the fit is committed. FailedPreconditionError for calibration none or
        too few documents."""
        ...

    def calibrated(self, vectors: FloatArray) -> FloatArray:
        """Normalised vectors ``(n, d) float32`` (of this collection's model and pooling) as
        the collection scores them: calibrated and normalised, ``(n, k)``, once fitted; the
        same vectors when the calibration is none or not fitted yet. ``search`` takes raw
        vectors and applies this itself; ``get_embeddings`` returns raw (stored) vectors."""
        ...

    def close(self) -> None:
        """Checkpoint and release files. The object is unusable afterwards."""
        ...


class Catalog(Protocol):
    """The set of collections under one data directory (or one Milvus). Thread-safe."""

    @property
    def kind(self) -> str:
        """What keeps the collections, for Info: "faiss" or "milvus"."""
        ...

    def create(self, spec: CollectionSpec) -> Collection:
        """Create and open. AlreadyExistsError if the name is taken."""
        ...

    def open(self, name: str) -> Collection:
        """The open collection (opened on first use). NotFoundError if unknown;
        UnavailableError naming the cause if it cannot be opened (see :meth:`unavailable`)."""
        ...

    def unavailable(self, name: str) -> CollectionInfo | None:
        """A collection that could not be opened (damaged files, an index the backend cannot
        run): ``unavailable`` says why, the spec holds what is still known (at least the
        name), count is 0. None when it is not known to be unavailable. Such a collection is
        listed, described and dropped; every other operation on it is UnavailableError."""
        ...

    def drop(self, name: str) -> None:
        """Delete the collection and its files, an unavailable one too. NotFoundError if
        unknown."""
        ...

    def names(self) -> list[str]:
        """Names of all collections, sorted."""
        ...

    def close(self) -> None:
        """Close every open collection (each writes its checkpoint)."""
        ...
