"""TLS and mutual TLS through the client library and the CLI, with certificates made here.

Each client kind calls Info on a TLS server and on a mutual-TLS server; the outcomes are
printed at the end of the run and are the TLS table in docs/reliability.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simsearch.cli import main as cli_main
from simsearch.client import Client
from simsearch.client.rpc import TlsHandshakeError
from simsearch.config import ServerConfig
from simsearch.errors import SimsearchError, UnauthenticatedError
from simsearch.server.security import load_security
from simsearch.wire import code_for
from support.security import KEYS, REPORT, StartServer

from .certs import Pki


def client_kinds(pki: Pki) -> dict[str, dict[str, Any]]:
    return {
        "plaintext": {},
        "TLS, trusts the CA": {"tls_ca": pki.ca},
        "TLS, trusts another CA": {"tls_ca": pki.rogue_ca},
        "TLS + client cert": {
            "tls_ca": pki.ca, "tls_cert": pki.client_cert, "tls_key": pki.client_key,
        },
        "TLS + rogue client cert": {
            "tls_ca": pki.ca, "tls_cert": pki.rogue_cert, "tls_key": pki.rogue_key,
        },
    }  # fmt: skip


EXPECTED = {
    "TLS": {
        "plaintext": "UNAVAILABLE",
        "TLS, trusts the CA": "OK",
        "TLS, trusts another CA": "UNAVAILABLE",
        "TLS + client cert": "OK",
        "TLS + rogue client cert": "OK",  # not asked for, so not checked
    },
    "mutual TLS": {
        "plaintext": "UNAVAILABLE",
        "TLS, trusts the CA": "UNAVAILABLE",
        "TLS, trusts another CA": "UNAVAILABLE",
        "TLS + client cert": "OK",
        "TLS + rogue client cert": "UNAVAILABLE",
    },
}


def info_outcome(port: int, **options: Any) -> str:
    try:
        with Client(f"127.0.0.1:{port}", timeout=10, **options) as client:
            client.info()
    except SimsearchError as error:
        return code_for(error).name
    return "OK"


def test_tls_and_mutual_tls(start_server: StartServer, pki: Pki) -> None:
    servers = {
        "TLS": start_server(tls_cert=pki.server_cert, tls_key=pki.server_key),
        "mutual TLS": start_server(
            tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca
        ),
    }
    kinds = client_kinds(pki)
    got = {
        name: {kind: info_outcome(server.port, **options) for kind, options in kinds.items()}
        for name, server in servers.items()
    }
    lines = [f"{'client':<26}" + "".join(f"{name:<14}" for name in servers)]
    lines += [f"{kind:<26}" + "".join(f"{got[s][kind]:<14}" for s in servers) for kind in kinds]
    REPORT["TLS (Info through the client library)"] = lines
    print("\n".join(lines))
    assert got == EXPECTED


def test_a_failed_handshake_says_what_to_check(start_server: StartServer, pki: Pki) -> None:
    server = start_server(tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca)
    address = f"127.0.0.1:{server.port}"
    hints = {
        "rogue CA": ({"tls_ca": pki.rogue_ca}, "check --tls-ca"),
        "no client cert": ({"tls_ca": pki.ca}, "client certificate"),
        "plaintext": ({}, "may require TLS"),
    }
    for options, hint in hints.values():
        with (
            Client(address, timeout=10, **options) as client,
            pytest.raises(TlsHandshakeError, match=hint),
        ):
            client.info()


def test_mutual_tls_and_keys_together(start_server: StartServer, pki: Pki, keys_file: Path) -> None:
    server = start_server(
        tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca,
        api_keys_file=keys_file,
    )  # fmt: skip
    cert = {"tls_ca": pki.ca, "tls_cert": pki.client_cert, "tls_key": pki.client_key}
    address = f"127.0.0.1:{server.port}"
    with Client(address, **cert) as client, pytest.raises(UnauthenticatedError):
        client.info()
    pem = {name: Path(path).read_bytes() for name, path in cert.items()}  # contents, not paths
    with Client(address, api_key=KEYS["read"], **pem) as client:
        assert client.info().version


def test_the_cli_takes_the_same_options(
    start_server: StartServer, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_server(tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca)
    base = ["--address", f"127.0.0.1:{server.port}", "--timeout", "10"]
    certs = ["--tls-ca", str(pki.ca), "--tls-cert", str(pki.client_cert)]
    assert cli_main([*base, *certs, "--tls-key", str(pki.client_key), "info"]) == 0
    assert cli_main([*base, "--tls-ca", str(pki.ca), "info"]) == 1
    assert "TLS" in capsys.readouterr().err
    assert cli_main([*base, *certs, "info"]) == 1  # a certificate without its key
    assert "tls_key" in capsys.readouterr().err


def test_unusable_tls_files_stop_the_server_before_the_model(tmp_path: Path, pki: Pki) -> None:
    not_pem = tmp_path / "cert.pem"
    not_pem.write_text("hello")
    cases = {
        "no PEM certificate": ServerConfig(tls_cert=not_pem, tls_key=pki.server_key),
        "cannot read": ServerConfig(tls_cert=tmp_path / "absent.pem", tls_key=pki.server_key),
        "no PEM private key": ServerConfig(tls_cert=pki.server_cert, tls_key=pki.server_cert),
    }
    for message, config in cases.items():
        with pytest.raises(ValueError, match=message):
            load_security(config)
