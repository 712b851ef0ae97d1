"""gRPC plumbing for the client: the channel, and status codes turned back into exceptions.

Callers of ``Client`` catch ``simsearch.errors.*``, never ``grpc.RpcError``: each status code
maps to the class the server raised (``simsearch.wire.error_for``, the one shared table). A
server that cannot be reached at all raises ``ServerUnreachableError``, a kind of
``UnavailableError`` with a message that says what to check; a failed TLS handshake raises
``TlsHandshakeError``, also an ``UnavailableError``.

Connection security: ``tls_credentials`` (server CA, optional client certificate and key for
mutual TLS) and ``with_api_key``, which sends ``authorization: Bearer <key>`` with every call
through a channel interceptor, so every call site (unary and streaming) carries it.

Retries are gRPC's own (the service-config retry policy, ``RETRY_POLICY``): a SimSearch call
that ends UNAVAILABLE or RESOURCE_EXHAUSTED is sent again, up to ``MAX_ATTEMPTS`` times in all,
after a random backoff that doubles from ``INITIAL_BACKOFF_S`` up to ``MAX_BACKOFF_S``. The
server answers a permanent limit (k, batch size, text length ...) with ``grpc-retry-pushback-ms:
-1``, which tells gRPC not to retry it; only overload and unavailability are retried. gRPC
retries a call only until the first response arrives and while the request fits its retry
buffer (256 KiB). UpsertStream is never retried: its error says how many documents were
committed before it, which a replay would hide (running it again is safe). A server that
keeps failing is not hammered: gRPC's retry throttling (``RETRY_THROTTLING``) stops retries
on a channel once most of its recent calls failed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import grpc

from simsearch.errors import InvalidArgumentError, SimsearchError, UnavailableError
from simsearch.v1 import simsearch_pb2
from simsearch.wire import error_for

__all__ = [
    "RETRY_POLICY",
    "RETRY_THROTTLING",
    "Pem",
    "ServerUnreachableError",
    "TlsHandshakeError",
    "error_from_rpc",
    "open_channel",
    "tls_credentials",
    "with_api_key",
]

# PEM material: bytes are the contents; a str or path names a file to read.
Pem = bytes | str | os.PathLike[str]

# Substrings of grpc's own UNAVAILABLE details when no connection could be made at all.
_UNREACHABLE_HINTS = (
    "failed to connect",
    "connection refused",
    "errors resolving",
    "dns resolution failed",
)


_TLS_HINTS = ("ssl", "tls", "handshake", "certificate")
# A TLS server drops a plaintext client, and a mutual-TLS server a client without a valid
# certificate, right after connecting; grpc then says only "Socket closed".
_CLOSED_HINTS = ("socket closed",)


class ServerUnreachableError(UnavailableError):
    """No connection could be made to the server (refused, unknown host, no route)."""


class TlsHandshakeError(UnavailableError):
    """The TLS handshake failed: wrong CA, missing client certificate, or TLS on one side only."""


MAX_ATTEMPTS = 5  # the first try included; gRPC caps it at 5
INITIAL_BACKOFF_S = 0.1
MAX_BACKOFF_S = 2.0
RETRY_POLICY = {
    "maxAttempts": MAX_ATTEMPTS,
    "initialBackoff": f"{INITIAL_BACKOFF_S}s",
    "maxBackoff": f"{MAX_BACKOFF_S}s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
}
# A token bucket per channel: a failed call costs 1 token, a success returns 0.1, and retries
# stop while fewer than half the tokens are left.
RETRY_THROTTLING = {"maxTokens": 20, "tokenRatio": 0.1}
_SERVICE = simsearch_pb2.DESCRIPTOR.services_by_name["SimSearch"].full_name
_NOT_RETRIED = ["UpsertStream"]


def open_channel(
    address: str,
    max_message_bytes: int,
    *,
    credentials: grpc.ChannelCredentials | None = None,
    retries: bool = True,
) -> grpc.Channel:
    """A channel to ``address``: TLS with ``credentials``, else plaintext; send and receive
    limits of ``max_message_bytes``; SimSearch calls retried by ``RETRY_POLICY`` unless
    ``retries`` is False."""
    options = _channel_options(max_message_bytes, retries)
    if credentials is None:
        return grpc.insecure_channel(address, options=options)
    return grpc.secure_channel(address, credentials, options=options)


def _channel_options(max_message_bytes: int, retries: bool) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.enable_retries", int(retries)),
    ]
    if retries:
        every = {"name": [{"service": _SERVICE}], "retryPolicy": RETRY_POLICY}
        once = {"name": [{"service": _SERVICE, "method": name} for name in _NOT_RETRIED]}
        config = {"methodConfig": [every, once], "retryThrottling": RETRY_THROTTLING}
        options.append(("grpc.service_config", json.dumps(config)))
    return options


def tls_credentials(
    ca: Pem | None = None, cert: Pem | None = None, key: Pem | None = None
) -> grpc.ChannelCredentials:
    """TLS trusting ``ca`` (None: the system's roots), presenting ``cert`` and ``key`` if given."""
    if (cert is None) != (key is None):
        raise InvalidArgumentError("a client certificate needs its key: give tls_cert and tls_key")
    return grpc.ssl_channel_credentials(
        root_certificates=_pem(ca, "tls_ca"),
        private_key=_pem(key, "tls_key"),
        certificate_chain=_pem(cert, "tls_cert"),
    )


def with_api_key(channel: grpc.Channel, api_key: str) -> grpc.Channel:
    """``channel`` sending ``authorization: Bearer <api_key>`` with every call."""
    key = api_key.strip()
    if not key or any(c.isspace() for c in key):
        raise InvalidArgumentError("the API key is empty or holds whitespace")
    return grpc.intercept_channel(channel, _BearerKey(key))


def _pem(value: Pem | None, what: str) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    try:
        return Path(value).read_bytes()
    except OSError as exc:
        raise InvalidArgumentError(f"{what}: cannot read {value}: {exc.strerror or exc}") from None


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _CallDetails(_Details, grpc.ClientCallDetails):
    """grpc wants a ClientCallDetails; a named tuple with its fields is the documented way."""


class _BearerKey(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the ``authorization`` metadata to every call."""

    def __init__(self, key: str) -> None:
        self._header = ("authorization", f"Bearer {key}")

    def __repr__(self) -> str:
        return "_BearerKey(***)"  # never show the key

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = [*(details.metadata or ()), self._header]
        return _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(
        self,
        continuation: Callable[..., Any],
        details: grpc.ClientCallDetails,
        request_iterator: Iterator[Any],
    ) -> Any:
        return continuation(self._details(details), request_iterator)

    def intercept_stream_stream(
        self,
        continuation: Callable[..., Any],
        details: grpc.ClientCallDetails,
        request_iterator: Iterator[Any],
    ) -> Any:
        return continuation(self._details(details), request_iterator)


def error_from_rpc(error: grpc.RpcError, address: str) -> SimsearchError:
    """The simsearch exception for a failed call.

    Codes outside the shared table (UNIMPLEMENTED, UNKNOWN ...) become a plain
    ``SimsearchError`` whose message starts with the code's name.
    """
    if not isinstance(error, grpc.Call):  # every RpcError grpc raises for a call is a Call
        return SimsearchError(f"UNKNOWN: {error}")
    code, details = error.code(), error.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE and _hints(details, _TLS_HINTS):
        return TlsHandshakeError(
            f"TLS with {address} failed: check --tls-ca (the CA of the server's certificate) "
            f"and that the server uses TLS ({details})"
        )
    if code == grpc.StatusCode.UNAVAILABLE and _hints(details, _CLOSED_HINTS):
        return TlsHandshakeError(
            f"{address} closed the connection at once: it may require TLS (--tls-ca) or a "
            f"client certificate (--tls-cert, --tls-key) ({details})"
        )
    if code == grpc.StatusCode.UNAVAILABLE and _unreachable(details):
        return ServerUnreachableError(
            f"cannot reach simsearch at {address}: is `simsearch serve` running? ({details})"
        )
    cls = error_for(code)
    if cls is SimsearchError:
        return SimsearchError(f"{code.name}: {details}")
    return cls(details)


def _unreachable(details: str) -> bool:
    return _hints(details, _UNREACHABLE_HINTS)


def _hints(details: str, hints: tuple[str, ...]) -> bool:
    lowered = details.lower()
    return any(hint in lowered for hint in hints)
