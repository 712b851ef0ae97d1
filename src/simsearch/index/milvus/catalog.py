"""MilvusCatalog: simsearch collections kept in one Milvus (a server, or a milvus-lite file).

Every collection is a Milvus collection named by ``names`` (prefix ``simsearch_``), carrying its
catalog record (spec, creation time, uid) as a collection property (``schema``). Nothing that
another front-end could change is cached: :meth:`open` reads the record from Milvus every time
(one ``describe_collection``, a metadata call that answers in about a millisecond and is never
stale), so a drop, or a drop and re-create under the same name, by another front-end is seen at
the next request. Only the collection objects are reused, keyed by the record's uid: they hold
nothing but the immutable record and the client.

Creating: the record goes into the same ``create_collection`` call that makes the collection,
whose schema description holds the new uid: Milvus refuses a second collection of that name,
so of two front-ends creating one name at once one gets AlreadyExistsError. The index is built
and the collection loaded in the same call; a create interrupted before its index exists is
completed by the next :meth:`open` (index and load are idempotent).

Unavailable: a collection with simsearch's prefix whose record is missing or unreadable, whose
index this backend cannot run, or that Milvus fails to index or load, is listed, described
(``unavailable`` saying why) and dropped; every other operation on it is UnavailableError.
Nothing is remembered: each call asks Milvus again, so a repaired collection serves at once. A
Milvus that cannot be reached is UnavailableError for every call (``failures``), with Milvus'
message, and no collection is reported unavailable for it.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from typing import Any

from simsearch.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from simsearch.index.milvus import limits
from simsearch.index.milvus.collection import MilvusCollection
from simsearch.index.milvus.failures import (
    COLLECTION_NOT_FOUND,
    code_of,
    milvus_call,
    quiet_pymilvus,
)
from simsearch.index.milvus.kinds import MilvusKind
from simsearch.index.milvus.names import simsearch_name, to_milvus
from simsearch.index.milvus.schema import EMBEDDING, Record, collection_schema
from simsearch.types import CalibrationKind, CollectionInfo, CollectionSpec, Pooling

__all__ = ["CONSISTENCY", "DEFAULT_TIMEOUT_S", "MilvusCatalog", "is_lite"]

CONSISTENCY = "Strong"  # acknowledged means searchable, from every front-end (``collection``)
DEFAULT_TIMEOUT_S = 30.0
_REMOTE = ("http://", "https://", "tcp://", "grpc://", "unix:")


def is_lite(uri: str) -> bool:
    """Whether ``uri`` names a milvus-lite file rather than a Milvus server."""
    return not uri.startswith(_REMOTE)


class MilvusCatalog:
    """The ``Catalog`` protocol over Milvus.

    uri: ``http://host:19530`` (a Milvus server) or a milvus-lite file path ending in ``.db``.
    token: ``user:password`` or an API key (from the environment, never a flag).
    timeout: seconds any one Milvus call may take before it is UnavailableError.
    consistency: the read consistency level; "Strong" keeps "acknowledged means searchable"
        across front-ends, "Bounded" / "Eventually" are for benchmarks only.
    """

    kind = "milvus"

    def __init__(
        self,
        uri: str,
        *,
        token: str = "",
        timeout: float = DEFAULT_TIMEOUT_S,
        consistency: str = CONSISTENCY,
    ) -> None:
        from pymilvus import MilvusClient

        self._lite = is_lite(uri)
        if self._lite and not uri.endswith(".db"):
            raise InvalidArgumentError(
                f"milvus uri {uri!r} is neither http(s)://host:port nor a milvus-lite file "
                "ending in .db"
            )
        quiet_pymilvus()
        self._uri = uri
        self._timeout = timeout
        self._consistency = consistency
        self._lock = threading.Lock()
        self._collections: dict[str, MilvusCollection] = {}
        self._closed = False
        # pymilvus says the same for a server that is down and for credentials it refuses.
        signed = (
            "with the credentials of SIMSEARCH_MILVUS_TOKEN" if token else "without credentials"
        )
        with milvus_call(f"be reached at {uri} {signed} (is it up? are they right?)"):
            self._client = MilvusClient(uri=uri, token=token, timeout=timeout)

    def create(self, spec: CollectionSpec) -> MilvusCollection:
        """Create, index and load. AlreadyExistsError if the name is taken; InvalidArgumentError
        for an index kind or dimension Milvus cannot take; FailedPreconditionError for
        ``store_tokens`` or a calibration other than none (the message says why)."""
        milvus_name = _milvus_name(spec.name)
        if spec.store_tokens:
            raise FailedPreconditionError(
                f"collection {spec.name!r}: store_tokens is not available on Milvus: a "
                "document's token matrix (tokens x dimension floats, about 200 KB for 128 tokens "
                "of MiniLM) fits neither a VARCHAR/JSON field (64 KB) nor a vector field (one "
                "vector per row); create it without store_tokens, and MaxSim reranking encodes "
                "the candidates when asked"
            )
        if spec.calibration.kind != CalibrationKind.NONE:
            raise FailedPreconditionError(
                f"collection {spec.name!r}: calibration {spec.calibration.kind.value} is not "
                "available on Milvus: a calibrated collection keeps the raw vectors as the "
                "truth and its index holds them calibrated, rebuilt from the raw ones at each "
                "refit, but Milvus holds the one copy of the vectors that it indexes itself; "
                "create it with calibration none (docs/calibration.md)"
            )
        limits.check_dimension(spec.dimension)
        kind = MilvusKind.parse(spec.index, spec.dimension, lite=self._lite)
        record = Record(spec, time.time(), uuid.uuid4().hex)
        with self._calling(f"create collection {spec.name!r}"):
            if self._client.has_collection(milvus_name, timeout=self._timeout):
                raise AlreadyExistsError(f"collection {spec.name!r} already exists")
            try:
                self._client.create_collection(
                    milvus_name,
                    schema=collection_schema(record),
                    index_params=self._index_params(kind),
                    properties=record.to_property(),
                    consistency_level=self._consistency,
                    timeout=self._timeout,
                )
            except Exception as exc:
                if self._taken_by_another(milvus_name, record):
                    raise AlreadyExistsError(f"collection {spec.name!r} already exists") from None
                self._remove_own(milvus_name, record)
                raise exc
            if self._taken_by_another(milvus_name, record):
                raise AlreadyExistsError(f"collection {spec.name!r} already exists")
        return self._handle(milvus_name, record, kind)

    def open(self, name: str) -> MilvusCollection:
        """The collection as Milvus has it now. NotFoundError if unknown; UnavailableError
        saying why if it cannot be served."""
        milvus_name = _milvus_name(name)
        with self._calling(f"open collection {name!r}"):
            record = self._record(name, milvus_name)
            kind = self._kind(record)
            return self._handle(milvus_name, record, kind)

    def unavailable(self, name: str) -> CollectionInfo | None:
        """What is known of a collection that cannot be served (see the module docstring): a
        missing or unreadable record, an index this backend cannot run, or one Milvus fails to
        index or load; None when it is fine, unknown, or Milvus cannot be reached."""
        try:
            milvus_name = _milvus_name(name)
            with self._calling(f"describe collection {name!r}"):
                properties = self._properties(name, milvus_name)
        except (NotFoundError, UnavailableError, InvalidArgumentError):
            return None
        try:
            record = Record.from_properties(name, properties)
        except UnavailableError as exc:
            return CollectionInfo(
                spec=_unknown_spec(name), count=0, created_at=0.0, unavailable=str(exc)
            )
        try:
            kind = self._kind(record)
            with self._calling(f"load collection {name!r}"):
                self._prepare(milvus_name, kind)
        except UnavailableError as exc:
            if not self._reachable():
                return None  # Milvus is down, not this collection broken
            return CollectionInfo(
                spec=record.spec, count=0, created_at=record.created_at, unavailable=str(exc)
            )
        return None

    def drop(self, name: str) -> None:
        """Drop the Milvus collection (an unavailable one too). NotFoundError if unknown."""
        milvus_name = _milvus_name(name)
        with self._calling(f"drop collection {name!r}"):
            if not self._client.has_collection(milvus_name, timeout=self._timeout):
                raise NotFoundError(f"collection {name!r} does not exist")
            self._client.drop_collection(milvus_name, timeout=self._timeout)
        with self._lock:
            dropped = self._collections.pop(name, None)
        if dropped is not None:
            dropped.close()

    def names(self) -> list[str]:
        with self._calling("list collections"):
            listed = self._client.list_collections(timeout=self._timeout)
        return sorted(name for name in map(simsearch_name, listed) if name is not None)

    def close(self) -> None:
        """Forget the collection objects and close the connection. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for collection in self._collections.values():
                collection.close()
            self._collections.clear()
        with contextlib.suppress(Exception):  # a dead connection: nothing left to release
            self._client.close()

    # -- helpers ----------------------------------------------------------------------------

    def _calling(self, action: str) -> Any:
        if self._closed:
            raise UnavailableError("the collection catalog is closed")
        return milvus_call(action)

    def _reachable(self) -> bool:
        try:
            self._client.list_collections(timeout=self._timeout)
        except Exception:
            return False
        return True

    def _properties(self, name: str, milvus_name: str) -> Any:
        try:
            described = self._client.describe_collection(milvus_name, timeout=self._timeout)
        except Exception as exc:
            if code_of(exc) == COLLECTION_NOT_FOUND or "not exist" in str(exc):
                raise NotFoundError(f"collection {name!r} does not exist") from None
            raise
        return described.get("properties") or {}

    def _record(self, name: str, milvus_name: str) -> Record:
        properties = self._properties(name, milvus_name)
        try:
            return Record.from_properties(name, properties)
        except UnavailableError as exc:
            raise _refusal(name, str(exc)) from None

    def _kind(self, record: Record) -> MilvusKind:
        try:
            return MilvusKind.parse(record.spec.index, record.spec.dimension, lite=self._lite)
        except InvalidArgumentError as exc:
            raise _refusal(record.spec.name, str(exc)) from None

    def _handle(self, milvus_name: str, record: Record, kind: MilvusKind) -> MilvusCollection:
        """The collection object of this incarnation; a new one is prepared (index, load)."""
        with self._lock:
            current = self._collections.get(record.spec.name)
            if current is not None and current.uid == record.uid:
                return current
        self._prepare(milvus_name, kind)
        collection = MilvusCollection(
            self._client,
            milvus_name,
            record,
            kind,
            consistency=self._consistency,
            timeout=self._timeout,
        )
        with self._lock:
            if self._closed:
                raise UnavailableError("the collection catalog is closed")
            current = self._collections.get(record.spec.name)
            if current is not None and current.uid == record.uid:
                return current
            self._collections[record.spec.name] = collection
            return collection

    def _prepare(self, milvus_name: str, kind: MilvusKind) -> None:
        """Build the index if an interrupted create left none, and load (both idempotent)."""
        if not self._client.list_indexes(milvus_name, timeout=self._timeout):
            self._client.create_index(milvus_name, self._index_params(kind), timeout=self._timeout)
        self._client.load_collection(milvus_name, timeout=self._timeout)

    def _index_params(self, kind: MilvusKind) -> Any:
        params = self._client.prepare_index_params()
        params.add_index(
            field_name=EMBEDDING,
            index_type=kind.index_type,
            metric_type="IP",
            params=dict(kind.build_params),
        )
        return params

    def _taken_by_another(self, milvus_name: str, record: Record) -> bool:
        """Whether ``milvus_name`` exists with someone else's record (a concurrent create)."""
        try:
            described = self._client.describe_collection(milvus_name, timeout=self._timeout)
        except Exception:
            return False
        properties = described.get("properties") or {}
        try:
            return Record.from_properties(record.spec.name, properties).uid != record.uid
        except UnavailableError:
            return True

    def _remove_own(self, milvus_name: str, record: Record) -> None:
        """After a failed create: drop what it made, if it made anything."""
        try:
            described = self._client.describe_collection(milvus_name, timeout=self._timeout)
            if (
                Record.from_properties(record.spec.name, described.get("properties")).uid
                == record.uid
            ):
                self._client.drop_collection(milvus_name, timeout=self._timeout)
        except Exception:  # nothing was made, or Milvus is down: open() completes or reports it
            pass


def _milvus_name(name: str) -> str:
    try:
        return to_milvus(name)
    except ValueError:
        raise InvalidArgumentError(f"invalid collection name {name!r}") from None


def _refusal(name: str, why: str) -> UnavailableError:
    return UnavailableError(
        f"collection {name!r} is unavailable: {why}. It serves nothing; dropping it deletes it"
    )


def _unknown_spec(name: str) -> CollectionSpec:
    return CollectionSpec(
        name=name,
        pooling=Pooling.POOLER,
        index="",
        dimension=0,
        model_name="",
        model_fingerprint="",
    )
