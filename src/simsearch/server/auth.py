"""API keys and roles: who may call which RPC.

Keys come from a file (``--api-keys-file``) and from the environment (``SIMSEARCH_API_KEYS``),
never from a flag (a flag shows in ``ps`` and in shell history). The file holds one
``role:key`` a line; blank lines and lines starting with ``#`` are skipped. The environment
variable holds ``role:key`` items separated by commas. The role is what comes before the first
colon; the key is at least 16 characters, without whitespace or commas. Only SHA-256 digests
of the keys are kept; a presented key is hashed and compared with every digest by
``hmac.compare_digest``, with no early exit. Keys and digests are never logged nor echoed in a
status message.

Clients send ``authorization: Bearer <key>`` metadata. Roles, each including the one before:

- ``read``: Info, Encode, EncodeTokens, Compare, Classify, DescribeCollection,
  ListCollections, Get, Export, Search, Rerank, MinePairs;
- ``write``: also CreateCollection, DropCollection, Upsert, UpsertStream, Delete, Calibrate.

Health checking is always open. Reflection needs a read key (``--reflection on``), none
(``public``), or is not served (``off``). A SimSearch RPC missing from the table needs a write
key (closed by default); a method the server does not have is UNIMPLEMENTED for everyone.
No key or an unknown key: UNAUTHENTICATED; a key without the role: PERMISSION_DENIED.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from simsearch.server.method_handlers import SERVICE_PREFIX, abort_handler, method_name

__all__ = [
    "MIN_KEY_CHARS",
    "RPC_ROLES",
    "AuthInterceptor",
    "KeyRing",
    "Role",
    "load_keys",
    "parse_keys",
    "required_role",
]

MIN_KEY_CHARS = 16
HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIX = "/grpc.reflection."


class Role(enum.IntEnum):
    """What a key may do; a higher role includes the lower ones."""

    READ = 1
    WRITE = 2


_READ_RPCS = (
    "Info",
    "Encode",
    "EncodeTokens",
    "Compare",
    "Classify",
    "DescribeCollection",
    "ListCollections",
    "Get",
    "Export",
    "Search",
    "Rerank",
    "MinePairs",
)
_WRITE_RPCS = (
    "CreateCollection",
    "DropCollection",
    "Upsert",
    "UpsertStream",
    "Delete",
    "Calibrate",
)
RPC_ROLES: dict[str, Role] = {
    **{name: Role.READ for name in _READ_RPCS},
    **{name: Role.WRITE for name in _WRITE_RPCS},
}


def required_role(full_method: str, reflection: str) -> Role | None:
    """The role ``full_method`` needs; None when it is open to anyone."""
    if full_method.startswith(HEALTH_PREFIX):
        return None
    if full_method.startswith(REFLECTION_PREFIX):
        return None if reflection == "public" else Role.READ
    if full_method.startswith(SERVICE_PREFIX):
        return RPC_ROLES.get(method_name(full_method), Role.WRITE)
    return Role.READ  # another service registered later: closed unless listed above


@dataclass(frozen=True)
class KeyRing:
    """SHA-256 digests of the accepted keys and their roles."""

    entries: tuple[tuple[bytes, Role], ...]

    def __repr__(self) -> str:
        return f"KeyRing({len(self.entries)} keys)"

    def role_of(self, key: str) -> Role | None:
        """The role of ``key``, or None; compares against every digest in constant time."""
        digest = _digest(key)
        found: Role | None = None
        for stored, role in self.entries:
            if hmac.compare_digest(stored, digest) and (found is None or role > found):
                found = role
        return found


def parse_keys(items: Sequence[str], where: Callable[[int], str]) -> list[tuple[bytes, Role]]:
    """Digest and role of each ``role:key`` item; ``where(i)`` names item i in errors."""
    entries: list[tuple[bytes, Role]] = []
    for i, item in enumerate(items):
        role_name, sep, key = item.strip().partition(":")
        role = _ROLE_NAMES.get(role_name.strip().lower())
        if not sep or role is None:
            raise ValueError(f"{where(i)}: expected role:key with role read or write")
        if len(key) < MIN_KEY_CHARS or any(c.isspace() or c == "," for c in key):
            raise ValueError(
                f"{where(i)}: a key needs {MIN_KEY_CHARS}+ characters, no spaces or commas"
            )
        entries.append((_digest(key), role))
    return entries


def load_keys(keys_file: Path | None, env_keys: str) -> KeyRing | None:
    """Keys from the file and the environment value; None when neither gives any (auth off).

    A named file without a single key is an error: an empty file must not turn auth off.
    """
    entries: list[tuple[bytes, Role]] = []
    if keys_file is not None:
        lines = _read_lines(keys_file)
        numbered = [(n, line) for n, line in enumerate(lines, 1) if _is_key_line(line)]
        if not numbered:
            raise ValueError(f"{keys_file}: no API keys in the file (one role:key a line)")
        entries += parse_keys(
            [line for _, line in numbered], lambda i: f"{keys_file}:{numbered[i][0]}"
        )
    items = [item for item in env_keys.split(",") if item.strip()]
    entries += parse_keys(items, lambda i: f"SIMSEARCH_API_KEYS item {i + 1}")
    digests = [digest for digest, _ in entries]
    if len(set(digests)) != len(digests):
        raise ValueError("an API key is listed twice: give each key one role")
    return KeyRing(tuple(entries)) if entries else None


class AuthInterceptor(grpc.ServerInterceptor):
    """Refuses calls whose ``authorization`` metadata lacks a key with the method's role."""

    def __init__(self, keys: KeyRing, reflection: str) -> None:
        self._keys = keys
        self._reflection = reflection
        # Refusal handlers, made once per (handler, code, message): a bounded set (messages
        # name a method and a role at most), so interceptors outside this one can reuse
        # their wrappers of them (``method_handlers.WrappedHandlers``).
        self._refusals: dict[tuple[Any, grpc.StatusCode, str], Any] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        needed = required_role(method, self._reflection)
        if handler is None or needed is None:
            return handler
        refusal = self._refusal(handler_call_details.invocation_metadata, needed, method)
        if refusal is None:
            return handler
        key = (handler, *refusal)
        refuse = self._refusals.get(key)
        if refuse is None:
            refuse = abort_handler(handler, *refusal, method=method_name(method))
            if len(self._refusals) < _MAX_REFUSAL_HANDLERS:
                self._refusals[key] = refuse
        return refuse

    def _refusal(
        self, metadata: Any, needed: Role, method: str
    ) -> tuple[grpc.StatusCode, str] | None:
        """None if the call may go on, else the status code and message to answer with."""
        key, problem = _bearer_key(metadata)
        if key is None:
            return grpc.StatusCode.UNAUTHENTICATED, problem
        role = self._keys.role_of(key)
        if role is None:
            return grpc.StatusCode.UNAUTHENTICATED, "unknown API key"
        if role < needed:
            return (
                grpc.StatusCode.PERMISSION_DENIED,
                f"{method_name(method)} needs a {needed.name.lower()} key; "
                f"this key has the {role.name.lower()} role",
            )
        return None


_ROLE_NAMES = {role.name.lower(): role for role in Role}
_MAX_REFUSAL_HANDLERS = 1024
_MISSING = "no API key: send the metadata 'authorization: Bearer <key>'"


def _bearer_key(metadata: Any) -> tuple[str | None, str]:
    """The key of the one ``authorization: Bearer <key>`` entry, or None and what is wrong."""
    values = [value for name, value in metadata or () if name.lower() == "authorization"]
    if not values:
        return None, _MISSING
    if len(values) > 1:
        return None, "more than one authorization header"
    value = values[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    scheme, _, key = str(value).strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None, "the authorization header must be 'Bearer <key>'"
    return key.strip(), ""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _is_key_line(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the API keys file {path}: {exc}") from None
