"""API keys: every RPC without a key, with a wrong key, with a read key and with a write key.

The matrix is printed at the end of the run ("simsearch security report") and is the table in
docs/reliability.md. Also: health stays open, reflection follows ``--reflection``, malformed
headers are refused, and no key reaches the log or a status message.
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from simsearch.cli import main as cli_main
from simsearch.client import Client
from simsearch.errors import PermissionDeniedError, UnauthenticatedError
from simsearch.server import RunningServer
from simsearch.server.auth import RPC_ROLES, Role
from simsearch.v1 import simsearch_pb2, simsearch_pb2_grpc
from support.security import KEYS, REPORT, WRONG_KEY, StartServer

from .calls import CALLS, bearer, outcome, prepare

CALLERS = {
    "no key": None,
    "wrong key": WRONG_KEY,
    "read key": KEYS["read"],
    "write key": KEYS["write"],
}
SERVICE = simsearch_pb2.DESCRIPTOR.services_by_name["SimSearch"]
OK, UNAUTHENTICATED = grpc.StatusCode.OK, grpc.StatusCode.UNAUTHENTICATED


def expected(rpc: str, caller: str) -> grpc.StatusCode:
    if caller in ("no key", "wrong key"):
        return UNAUTHENTICATED
    if caller == "read key" and RPC_ROLES[rpc] is Role.WRITE:
        return grpc.StatusCode.PERMISSION_DENIED
    return OK


@pytest.fixture
def keyed(start_server: StartServer, keys_file: Path) -> RunningServer:
    return start_server(api_keys_file=keys_file)


def _who(caller: str) -> str:
    return caller.replace(" ", "_")


def test_every_rpc_has_a_role_and_a_call() -> None:
    names = {method.name for method in SERVICE.methods}
    assert set(RPC_ROLES) == names, "a new RPC needs a role in simsearch.server.auth"
    assert set(CALLS) == names


def test_access_matrix(keyed: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rows, wrong = [], []
    with grpc.insecure_channel(f"127.0.0.1:{keyed.port}") as channel:
        stub = simsearch_pb2_grpc.SimSearchStub(channel)
        prepare(stub, KEYS["write"], [_who(c) for c in CALLERS])
        for rpc, call in CALLS.items():
            codes = {c: outcome(call, stub, bearer(k), _who(c)) for c, k in CALLERS.items()}
            rows.append(f"{rpc:<19}{RPC_ROLES[rpc].name.lower():<7}" + "".join(
                f"{code.name:<19}" for code in codes.values()
            ))  # fmt: skip
            wrong += [(rpc, c, got) for c, got in codes.items() if got != expected(rpc, c)]
    header = f"{'RPC':<19}{'role':<7}" + "".join(f"{caller:<19}" for caller in CALLERS)
    REPORT["access matrix (status code per caller)"] = [header, *rows]
    print("\n".join([header, *rows]))
    assert not wrong, f"unexpected codes: {wrong}"
    for key in (*KEYS.values(), WRONG_KEY):
        assert key not in caplog.text, "an API key reached the log"


def test_refusals_say_what_to_do_and_never_echo_the_key(keyed: RunningServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{keyed.port}") as channel:
        stub = simsearch_pb2_grpc.SimSearchStub(channel)
        cases = {
            "missing": ([], "authorization: Bearer"),
            "wrong": (bearer(WRONG_KEY), "unknown API key"),
            "not bearer": ([("authorization", f"Basic {WRONG_KEY}")], "Bearer <key>"),
            "empty bearer": ([("authorization", "Bearer ")], "Bearer <key>"),
            "two headers": (bearer(KEYS["read"]) + bearer(KEYS["write"]), "more than one"),
        }
        for name, (metadata, hint) in cases.items():
            with pytest.raises(grpc.RpcError) as caught:
                stub.Info(simsearch_pb2.InfoRequest(), metadata=metadata, timeout=10)
            assert caught.value.code() == UNAUTHENTICATED, name
            details = caught.value.details() or ""
            assert hint in details, (name, details)
            assert WRONG_KEY not in details and KEYS["read"] not in details
        with pytest.raises(grpc.RpcError) as caught:
            stub.DropCollection(
                simsearch_pb2.DropCollectionRequest(name="x"), metadata=bearer(KEYS["read"])
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert (
            caught.value.details() == "DropCollection needs a write key; this key has the read role"
        )


def test_health_is_open_without_a_key(keyed: RunningServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{keyed.port}") as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def _list_services(port: int, key: str | None) -> grpc.StatusCode | list[str]:
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        try:
            answers = list(stub.ServerReflectionInfo(iter([request]), metadata=bearer(key)))
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]
    return [s.name for s in answers[0].list_services_response.service]


@pytest.mark.parametrize(
    ("mode", "no_key", "read_key"),
    [
        ("on", UNAUTHENTICATED, "listed"),
        ("public", "listed", "listed"),
        ("off", grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNIMPLEMENTED),
    ],
)
def test_reflection_follows_the_setting(
    start_server: StartServer, keys_file: Path, mode: str, no_key: object, read_key: object
) -> None:
    server = start_server(api_keys_file=keys_file, reflection=mode)
    for key, want in ((None, no_key), (KEYS["read"], read_key)):
        got = _list_services(server.port, key)
        if want == "listed":
            assert isinstance(got, list) and SERVICE.full_name in got
        else:
            assert got == want


def test_reflection_is_open_without_keys(start_server: StartServer) -> None:
    listed = _list_services(start_server().port, None)
    assert isinstance(listed, list) and SERVICE.full_name in listed


def test_the_client_library_sends_its_key(keyed: RunningServer) -> None:
    address = f"127.0.0.1:{keyed.port}"
    with Client(address, api_key=KEYS["write"]) as writer:
        writer.create_collection("lib")
    with Client(address, api_key=KEYS["read"]) as reader:
        assert [c.spec.name for c in reader.list_collections()] == ["lib"]
        with pytest.raises(PermissionDeniedError, match="needs a write key"):
            reader.drop_collection("lib")
    with Client(address) as anonymous, pytest.raises(UnauthenticatedError):
        anonymous.info()
    with Client(address, api_key=WRONG_KEY) as stranger, pytest.raises(UnauthenticatedError):
        stranger.info()


def test_the_cli_takes_a_key_file_or_the_environment(
    keyed: RunningServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    address = ["--address", f"127.0.0.1:{keyed.port}"]
    monkeypatch.delenv("SIMSEARCH_API_KEY", raising=False)
    assert cli_main([*address, "collections"]) == 1
    assert "UNAUTHENTICATED" in capsys.readouterr().err
    key_file = tmp_path / "key"
    key_file.write_text(KEYS["write"] + "\n")
    assert cli_main([*address, "--api-key-file", str(key_file), "create", "viacli"]) == 0
    monkeypatch.setenv("SIMSEARCH_API_KEY", KEYS["read"])
    assert cli_main([*address, "collections", "--json"]) == 0
    assert "viacli" in capsys.readouterr().out
    assert cli_main([*address, "drop", "viacli"]) == 1
    assert "PERMISSION_DENIED" in capsys.readouterr().err
    assert cli_main([*address, "--api-key-file", str(tmp_path / "absent"), "info"]) == 2
    capsys.readouterr()
    assert cli_main([*address, "--api-key", WRONG_KEY, "info"]) == 2  # abbreviates --api-key-file
    assert WRONG_KEY not in capsys.readouterr().err
