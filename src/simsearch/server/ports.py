"""Bind the gRPC server's port, failing with one line that says which setting to change.

grpc reports a port it cannot bind as a C-core log line on stderr and a ``RuntimeError`` that
says "set GRPC_VERBOSITY=debug". So the address is first bound by a plain socket, with the
options grpc uses (``SO_REUSEADDR``, no ``SO_REUSEPORT``), and released at once: a port in use
raises ``OSError("port N is in use: pick another --port")`` before grpc tries.
"""

from __future__ import annotations

import errno
import socket

import grpc

__all__ = ["bind_port", "check_bindable", "grpc_address"]


def grpc_address(host: str, port: int) -> str:
    """``host:port`` as grpc wants it (IPv6 literals in brackets)."""
    bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{bracketed}:{port}"


def bind_port(
    server: grpc.Server, host: str, port: int, credentials: grpc.ServerCredentials | None
) -> int:
    """Bind ``server`` to ``host:port`` (0: a free port) with TLS when ``credentials`` are
    given; the bound port. ``OSError`` if it cannot."""
    check_bindable(host, port)
    address = grpc_address(host, port)
    try:
        if credentials is None:
            return server.add_insecure_port(address)
        return server.add_secure_port(address, credentials)
    except RuntimeError:  # taken between the check and now, or refused for another reason
        raise OSError(f"cannot listen on {address}: pick another --port or --host") from None


def check_bindable(host: str, port: int) -> None:
    """Raise ``OSError`` (one line, naming the setting to change) if ``host:port`` cannot be
    listened on. Like grpc, a host that resolves to several addresses needs one that binds;
    but a port in use at any of them is refused (the server would answer on some only)."""
    if port == 0:
        return
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise OSError(f"cannot listen on {host!r}: {exc.strerror}: pick another --host") from None
    failures = [_bind_error(family, address) for family, _, _, _, address in addresses]
    refused = [failure for failure in failures if failure is not None]
    for failure in refused:
        if failure.errno in (errno.EADDRINUSE, errno.EACCES):
            raise OSError(_advice(failure, port)) from None
    if len(refused) == len(failures):
        raise OSError(f"cannot listen on {host}:{port}: {refused[0].strerror}: pick another --host")


def _bind_error(family: int, address: tuple[object, ...]) -> OSError | None:
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc
    return None


def _advice(failure: OSError, port: int) -> str:
    if failure.errno == errno.EACCES:
        return f"port {port} needs privileges to listen on: pick one above 1023 with --port"
    return f"port {port} is in use: pick another --port"
