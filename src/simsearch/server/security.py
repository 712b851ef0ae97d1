"""The server's access settings in one object, loaded (and checked) before the model.

Off by default: with no keys and no TLS the server answers anyone who can connect, which is
safe on the default host 127.0.0.1 only; listening on any other address that way logs a
warning at start, as does sending API keys in plaintext past the loopback interface, and an
API keys file or TLS private key that other local users may open (any group or other
permission bit: they could read a key, or add one).
"""

from __future__ import annotations

import ipaddress
import logging
import stat
from dataclasses import dataclass
from pathlib import Path

import grpc

from simsearch.config import ServerConfig
from simsearch.server.auth import AuthInterceptor, KeyRing, load_keys
from simsearch.server.tls import TlsFiles, server_credentials

__all__ = [
    "Security",
    "exposure_warning",
    "is_loopback",
    "load_security",
    "log_exposure",
    "secret_file_warning",
]

logger = logging.getLogger("simsearch.server")


@dataclass(frozen=True)
class Security:
    """API keys (None: no authentication), TLS files (None: plaintext), reflection mode, and
    what is unsafe about the secret files (logged at start)."""

    keys: KeyRing | None = None
    tls: TlsFiles | None = None
    reflection: str = "on"
    file_warnings: tuple[str, ...] = ()

    def interceptors(self) -> list[grpc.ServerInterceptor]:
        return [] if self.keys is None else [AuthInterceptor(self.keys, self.reflection)]

    def credentials(self) -> grpc.ServerCredentials | None:
        return None if self.tls is None else server_credentials(self.tls)

    def describe(self) -> str:
        """One line for the start-up log (counts only: never a key)."""
        keys = "off" if self.keys is None else f"{len(self.keys.entries)} keys"
        tls = "off" if self.tls is None else ("mutual" if self.tls.mutual else "on")
        return f"API keys {keys}; TLS {tls}; reflection {self.reflection}"


def load_security(config: ServerConfig) -> Security:
    """Read the key file and TLS files named in ``config``; ValueError says what is wrong."""
    tls = None
    if config.tls_cert is not None and config.tls_key is not None:
        tls = TlsFiles.load(config.tls_cert, config.tls_key, config.tls_client_ca)
    keys = load_keys(config.api_keys_file, config.api_keys)
    files = {"API keys file": config.api_keys_file, "TLS private key": config.tls_key}
    warnings = [secret_file_warning(path, what) for what, path in files.items() if path]
    return Security(
        keys=keys,
        tls=tls,
        reflection=config.reflection,
        file_warnings=tuple(warning for warning in warnings if warning is not None),
    )


def secret_file_warning(path: Path, what: str) -> str | None:
    """What is unsafe about the mode of a file holding secrets, or None (owner-only)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None  # it was just read; a file that vanished since has no mode to judge
    if not mode & 0o077:
        return None
    return (
        f"the {what} {path} has mode {mode:04o}: other local users may read or change it "
        f"(chmod 600 {path})"
    )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback literals; any other name or wildcard is exposed."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, security: Security) -> str | None:
    """What is unsafe about serving on ``host`` with ``security``, or None."""
    if is_loopback(host):
        return None
    if security.tls is None and security.keys is None:
        return (
            f"listening on {host} with neither TLS nor API keys: anyone who can reach this "
            "address can read and change every collection (set --tls-cert/--tls-key and "
            "--api-keys-file, or listen on 127.0.0.1)"
        )
    if security.tls is None:
        return f"listening on {host} without TLS: API keys cross the network in plaintext"
    return None


def log_exposure(host: str, security: Security) -> None:
    """Log, at start, what is unsafe: the address without protection, secret files' modes."""
    warning = exposure_warning(host, security)
    for line in ([] if warning is None else [warning]) + list(security.file_warnings):
        logger.warning("%s", line)
