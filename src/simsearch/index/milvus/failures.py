"""Milvus and pymilvus failures as simsearch errors: callers never see a pymilvus exception.

- the collection is gone (Milvus code 100: dropped, possibly by another front-end):
  NotFoundError;
- anything else from Milvus or the connection (unreachable, timed out, refused, an internal
  error of Milvus): UnavailableError naming what simsearch was doing and Milvus' message, so
  the client gets UNAVAILABLE with a reason, never INTERNAL with a traceback.

pymilvus logs every failed call at ERROR with a traceback, including the ones simsearch expects
(a create that lost a race, a lookup of an unknown collection); ``quiet_pymilvus`` turns that
logger down: the errors raised here carry the message instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from simsearch.errors import NotFoundError, SimsearchError, UnavailableError

__all__ = ["COLLECTION_NOT_FOUND", "NOT_LOADED", "code_of", "milvus_call", "quiet_pymilvus"]

COLLECTION_NOT_FOUND = 100
NOT_LOADED = 101


def quiet_pymilvus() -> None:
    logging.getLogger("pymilvus.decorators").setLevel(logging.CRITICAL)


def code_of(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


@contextmanager
def milvus_call(action: str, name: str | None = None) -> Iterator[None]:
    """Translate what Milvus raises while ``action`` runs (on collection ``name``)."""
    from pymilvus.exceptions import MilvusException

    try:
        yield
    except SimsearchError:
        raise
    except MilvusException as exc:
        if name is not None and code_of(exc) == COLLECTION_NOT_FOUND:
            raise NotFoundError(f"collection {name!r} does not exist") from None
        raise UnavailableError(f"Milvus could not {action}: {_message(exc)}") from exc
    except (OSError, TimeoutError, ConnectionError) as exc:
        raise UnavailableError(f"Milvus could not {action}: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("grpc", "pymilvus")):
            raise UnavailableError(f"Milvus could not {action}: {exc}") from exc
        raise


def _message(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message).strip() or type(exc).__name__
