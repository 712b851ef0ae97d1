"""gRPC plumbing for the client: the channel, and status codes turned back into exceptions.

Callers of ``Client`` catch ``simsearch.errors.*``, never ``grpc.RpcError``: each status code
maps to the class the server raised (``simsearch.wire.error_for``, the one shared table). A
server that cannot be reached at all raises ``ServerUnreachableError``, a kind of
``UnavailableError`` with a message that says what to check.
"""

from __future__ import annotations

import grpc

from simsearch.errors import SimsearchError, UnavailableError
from simsearch.wire import error_for

__all__ = ["ServerUnreachableError", "error_from_rpc", "insecure_channel"]

# Substrings of grpc's own UNAVAILABLE details when no connection could be made at all.
_UNREACHABLE_HINTS = (
    "failed to connect",
    "connection refused",
    "errors resolving",
    "dns resolution failed",
)


class ServerUnreachableError(UnavailableError):
    """No connection could be made to the server (refused, unknown host, no route)."""


def insecure_channel(address: str, max_message_bytes: int) -> grpc.Channel:
    """A plaintext channel whose send and receive limits are ``max_message_bytes``."""
    options = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]
    return grpc.insecure_channel(address, options=options)


def error_from_rpc(error: grpc.RpcError, address: str) -> SimsearchError:
    """The simsearch exception for a failed call.

    Codes outside the shared table (UNIMPLEMENTED, UNKNOWN ...) become a plain
    ``SimsearchError`` whose message starts with the code's name.
    """
    if not isinstance(error, grpc.Call):  # every RpcError grpc raises for a call is a Call
        return SimsearchError(f"UNKNOWN: {error}")
    code, details = error.code(), error.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE and _unreachable(details):
        return ServerUnreachableError(
            f"cannot reach simsearch at {address}: is `simsearch serve` running? ({details})"
        )
    cls = error_for(code)
    if cls is SimsearchError:
        return SimsearchError(f"{code.name}: {details}")
    return cls(details)


def _unreachable(details: str) -> bool:
    lowered = details.lower()
    return any(hint in lowered for hint in _UNREACHABLE_HINTS)
