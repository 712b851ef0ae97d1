"""TLS and mutual TLS for the gRPC port (and the metrics endpoint).

``--tls-cert`` and ``--tls-key`` (PEM) turn TLS on; ``--tls-client-ca`` (a PEM bundle) makes
client certificates signed by it required: a client without one fails the handshake, before
any RPC is read. The files are read once at start; a file that is missing or not PEM stops
the server with a message naming it, before the model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

__all__ = ["TlsFiles", "server_credentials"]


@dataclass(frozen=True)
class TlsFiles:
    """Paths and contents of the server's certificate, key and optional client CA."""

    cert: Path
    key: Path
    client_ca: Path | None
    cert_pem: bytes
    key_pem: bytes
    client_ca_pem: bytes | None

    def __repr__(self) -> str:  # never show the key material
        return f"TlsFiles(cert={self.cert}, key={self.key}, client_ca={self.client_ca})"

    @classmethod
    def load(cls, cert: Path, key: Path, client_ca: Path | None) -> TlsFiles:
        """Read and sniff the files; ValueError names the one that is unusable."""
        return cls(
            cert=cert,
            key=key,
            client_ca=client_ca,
            cert_pem=_read_pem(cert, "tls_cert", b"CERTIFICATE"),
            key_pem=_read_pem(key, "tls_key", b"PRIVATE KEY"),
            client_ca_pem=None
            if client_ca is None
            else _read_pem(client_ca, "tls_client_ca", b"CERTIFICATE"),
        )

    @property
    def mutual(self) -> bool:
        return self.client_ca_pem is not None


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """TLS credentials; with a client CA, client certificates are required."""
    return grpc.ssl_server_credentials(
        [(files.key_pem, files.cert_pem)],
        root_certificates=files.client_ca_pem,
        require_client_auth=files.mutual,
    )


def _read_pem(path: Path, setting: str, kind: bytes) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN" not in data or kind not in data:
        raise ValueError(f"{setting}: {path} holds no PEM {kind.decode().lower()}")
    return data
