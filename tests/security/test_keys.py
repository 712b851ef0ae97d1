"""Key files and variables, roles, what is never shown, and the start-up exposure warning."""

from __future__ import annotations

import logging
from pathlib import Path

import click
import pytest

from simsearch.cli.serve import serve, server_config
from simsearch.config import ServerConfig
from simsearch.server.auth import KeyRing, Role, load_keys, required_role
from simsearch.server.security import Security, exposure_warning, is_loopback
from support.security import KEYS, StartServer

READ, WRITE = "r" * 16 + "ead", "w" * 16 + "rite"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keys"
    path.write_text(text)
    return path


def test_file_and_environment_keys_with_their_roles(tmp_path: Path) -> None:
    path = write(tmp_path, f"# comment\n\n  read:{READ}  \nWRITE:{WRITE}\n")
    ring = load_keys(path, "")
    assert ring is not None
    assert (ring.role_of(READ), ring.role_of(WRITE), ring.role_of("x" * 20)) == (
        Role.READ, Role.WRITE, None,
    )  # fmt: skip
    both = load_keys(None, f"read:{READ}, write:{WRITE}")
    assert both is not None and both.role_of(WRITE) is Role.WRITE
    assert load_keys(None, "") is None  # no keys anywhere: authentication is off


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no API keys"),
        ("# only a comment\n", "no API keys"),
        (f"admin:{READ}\n", r"keys:1: expected role:key"),
        (f"{READ}\n", r"keys:1: expected role:key"),
        ("read:short\n", r"keys:1: a key needs 16\+ characters"),
        (f"read:{READ}\n\nread:has a space in it here\n", r"keys:3: a key needs"),
        (f"read:{READ}\nwrite:{READ}\n", "listed twice"),
    ],
)
def test_bad_key_files_are_refused_naming_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        load_keys(write(tmp_path, text), "")
    assert READ not in str(caught.value)


def test_bad_environment_keys_name_the_item() -> None:
    with pytest.raises(ValueError, match="SIMSEARCH_API_KEYS item 2"):
        load_keys(None, f"read:{READ},nope")


def test_missing_key_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the API keys file"):
        load_keys(tmp_path / "absent", "")


def test_keys_are_kept_as_digests_and_never_shown(tmp_path: Path) -> None:
    ring = load_keys(write(tmp_path, f"read:{READ}\n"), f"write:{WRITE}")
    assert ring is not None
    assert repr(ring) == "KeyRing(2 keys)"
    assert all(len(digest) == 32 for digest, _ in ring.entries)
    stored = b"".join(digest for digest, _ in ring.entries)
    assert READ.encode() not in stored and WRITE.encode() not in stored
    config = ServerConfig(api_keys=f"write:{WRITE}")
    assert WRITE not in repr(config)
    assert WRITE not in Security(keys=ring).describe()


def test_keys_come_from_the_environment_never_a_flag() -> None:
    with click.Context(serve, info_name="simsearch serve") as context:
        help_text = serve.get_help(context)
    assert "--api-keys " not in help_text.replace("--api-keys-file", "")
    with pytest.raises(click.NoSuchOption):
        server_config(["--api-keys", f"read:{READ}"], {})
    config = server_config(["--api-keys-file", "/etc/keys"], {"SIMSEARCH_API_KEYS": f"read:{READ}"})
    assert (config.api_keys_file, config.api_keys) == (Path("/etc/keys"), f"read:{READ}")


def test_role_table() -> None:
    prefix = "/simsearch.v1.SimSearch/"
    assert required_role(prefix + "Search", "on") is Role.READ
    assert required_role(prefix + "UpsertStream", "on") is Role.WRITE
    assert required_role(prefix + "SomeNewRpc", "on") is Role.WRITE  # closed by default
    assert required_role("/grpc.health.v1.Health/Check", "on") is None
    assert required_role("/grpc.reflection.v1alpha.ServerReflection/X", "on") is Role.READ
    assert required_role("/grpc.reflection.v1alpha.ServerReflection/X", "public") is None
    assert KeyRing(()).role_of(READ) is None


def test_settings_that_do_not_fit_together_are_refused() -> None:
    for flags, message in (
        (["--tls-cert", "c.pem"], "tls_cert and tls_key go together"),
        (["--tls-client-ca", "ca.pem"], "needs tls_cert"),
        (["--reflection", "maybe"], "reflection must be"),
        (["--metrics-port", "50051"], "pick two ports"),
        (["--shutdown-grace", "-1"], "shutdown_grace"),
    ):
        with pytest.raises(click.UsageError, match=message):
            server_config(flags, {})


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.1.2.3", False),
     ("example.com", False), ("", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_exposure_warnings() -> None:
    ring = KeyRing(((b"x" * 32, Role.READ),))
    assert exposure_warning("127.0.0.1", Security()) is None
    assert "neither TLS nor API keys" in (exposure_warning("0.0.0.0", Security()) or "")
    assert "plaintext" in (exposure_warning("0.0.0.0", Security(keys=ring)) or "")


def test_the_server_warns_when_exposed_without_protection(
    start_server: StartServer, caplog: pytest.LogCaptureFixture, keys_file: Path
) -> None:
    caplog.set_level(logging.WARNING, logger="simsearch.server")
    start_server()
    assert not caplog.records  # 127.0.0.1: nothing to say
    start_server(host="0.0.0.0")
    assert "neither TLS nor API keys" in caplog.text
    caplog.clear()
    start_server(host="0.0.0.0", api_keys_file=keys_file)
    assert "API keys cross the network in plaintext" in caplog.text
    assert all(key not in caplog.text for key in KEYS.values())
