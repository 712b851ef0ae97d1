"""A real Milvus 2.3 standalone server for tests, from the PyPI package ``milvus``.

Use it through the session fixture or as a context manager::

    # in a conftest.py: the session fixture (one server for the whole test session)
    from support.milvus_server import milvus_server_uri  # noqa: F401

    def test_x(milvus_server_uri: str) -> None:  # "http://127.0.0.1:<port>"
        MilvusCatalog(milvus_server_uri)

    # or a server of one's own, e.g. to stop it on purpose
    from support.milvus_server import running_milvus, start_milvus

    with running_milvus(tmp_path) as uri:
        ...
    server = start_milvus(tmp_path)  # MilvusServer: .uri, .pid, .stop() (idempotent)

A fixture is one per conftest that imports it: import it in the conftest of the common parent
folder (tests/scaleout/conftest.py) so that one session starts one server.

:func:`start_milvus` runs the Milvus 2.3.5 standalone binary of the PyPI package ``milvus``
(what its ``milvus-server`` script runs) with every port it listens on (proxy, embedded etcd's
client and peer ports, coordinators, nodes, metrics) picked free on 127.0.0.1 (the script
cannot move etcd's peer port off 2380, so two of its servers cannot run on one machine), data
and logs under ``data_dir`` (``server.log`` there), in its own process group; it waits until
the proxy answers ``list_collections`` (``MilvusStartError`` after ``start_timeout`` seconds,
with the log's tail; about 3 s on a quiet machine). Stopping signals the whole group by its
pid: SIGTERM, ``DRAIN_S`` to exit, then SIGKILL; a server whose test process dies without
stopping it gets SIGTERM from the kernel (``PR_SET_PDEATHSIG``). The binaries (250 MB
unpacked) are unpacked once per machine into a cache under the temp directory, guarded by a
file lock, and linked into each data directory.

``time_tick_ms`` sets Milvus' ``proxy.timeTickInterval`` (default 200, Milvus' own); the
session fixture runs at ``TEST_TIME_TICK_MS`` (20) so that Strong reads, which wait for the
next tick, stay quick, and with ``fast_load`` (collections load in about a second, not 2-3).
Both change timings only, not semantics.

Skips cleanly: :func:`milvus_server_uri` skips the test when the ``milvus`` package (the extra
``simsearch[milvus]``'s test dependency) is not installed.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.ports import free_ports

__all__ = [
    "MilvusServer",
    "MilvusStartError",
    "milvus_server_uri",
    "running_milvus",
    "start_milvus",
]

START_TIMEOUT_S = 120.0  # a cold start on a loaded 2-core machine takes 10-30 s
DRAIN_S = 1.0  # SIGTERM, then this long before SIGKILL (test data: nothing to save)
# Milvus' common.session.ttl (its default is 30 s), see _write_config.
SESSION_TTL_S = 600

# The session fixture's proxy.timeTickInterval: a Strong read waits for the next time tick
# (measured p50: 200 ms at Milvus' default of 200, 68 ms at 50, 21 ms at 20); the suite makes
# thousands of reads. Semantics are equal at any tick.
TEST_TIME_TICK_MS = 20
_PR_SET_PDEATHSIG = 1
FAST_LOAD = {  # queryCoord settings (ms) of ``fast_load``
    "checkInterval": 100,
    "distPullInterval": 100,
    "checkChannelInterval": 100,
    "checkSegmentInterval": 100,
    "leaderViewUpdateInterval": 1,
    "UpdateNextTargetInterval": 1,
}
ROOT_TOKEN = "root:Milvus"  # Milvus' first user and its password, when authorization is on
_PORT_OPTIONS = (
    "etcd_port",
    "root_coord_port",
    "proxy_port",
    "proxy_internal_port",
    "query_coord_port",
    "query_node_port",
    "index_coord_port",
    "index_node_port",
    "data_coord_port",
    "data_node_port",
)


class MilvusStartError(RuntimeError):
    """The server did not answer in time or exited; the message holds its log's tail."""


@dataclass
class MilvusServer:
    """A started ``milvus-server``: its proxy ``uri``, process group leader ``pid``."""

    uri: str
    pid: int
    data_dir: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self) -> None:
        """Stop the whole process group: SIGTERM, ``DRAIN_S`` to exit, then SIGKILL.
        Idempotent."""
        if self.process.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=DRAIN_S)
        _signal_group(self.pid, signal.SIGKILL)  # anything of the group still running
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=DRAIN_S)

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"


def start_milvus(
    data_dir: Path,
    *,
    start_timeout: float = START_TIMEOUT_S,
    time_tick_ms: int = 200,
    fast_load: bool = False,
    authorization: bool = False,
) -> MilvusServer:
    """Start a server with its data in ``data_dir`` and wait until it answers.

    time_tick_ms: Milvus' ``proxy.timeTickInterval`` (its default is 200): how often the
    time that Strong reads wait for advances, so about the price of each Strong read.
    fast_load: the query coordinator checks every 100 ms instead of every 0.5-1 s
    (``FAST_LOAD``): loading a new collection takes 0.6-1.6 s instead of 2.4-3 s (measured by
    the contract suite's author); a test setting. authorization: clients must sign in (Milvus'
    first user is ``root`` with the password ``Milvus``)."""
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = _link_binaries(data_dir)
    names = (*_PORT_OPTIONS, "metrics", "etcd_peer")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    _write_config(data_dir, ports, time_tick_ms, fast_load, authorization)
    env = {
        **os.environ,
        "DEPLOY_MODE": "STANDALONE",
        "METRICS_PORT": str(ports["metrics"]),
        "MILVUS_RUN_DIR": str(data_dir / "run"),
        "LD_LIBRARY_PATH": f"{binary.parent}:{os.environ.get('LD_LIBRARY_PATH', '')}",
    }
    with open(data_dir / "server.log", "wb") as log:
        process = subprocess.Popen(
            [str(binary), "run", "standalone"],
            cwd=data_dir,  # milvus reads configs/milvus.yaml from its working directory
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped by pid
            preexec_fn=_die_with_parent,
        )
    uri = f"http://127.0.0.1:{ports['proxy_port']}"
    server = MilvusServer(uri=uri, pid=process.pid, data_dir=data_dir, process=process)
    try:
        _wait_until_answering(server, start_timeout, ROOT_TOKEN if authorization else "")
    except BaseException:
        server.stop()
        raise
    return server


def _write_config(
    data_dir: Path, ports: dict[str, int], time_tick_ms: int, fast_load: bool, authorization: bool
) -> None:
    """``configs/milvus.yaml`` from the package's template, every port ours, and the embedded
    etcd's own peer and client URLs (etcd's defaults, 2379/2380, are fixed: a second server
    on the machine would fail to start)."""
    import milvus

    config = milvus.MilvusServerConfig(data_dir=str(data_dir))
    for option in _PORT_OPTIONS:
        config.set(option, ports[option])
    config.set("authorization_enabled", authorization)
    config.resolve()
    config.write_config()
    etcd = data_dir / "configs" / "etcd.yaml"
    client, peer = (
        f"http://127.0.0.1:{ports['etcd_port']}",
        f"http://127.0.0.1:{ports['etcd_peer']}",
    )
    etcd.write_text(
        f"listen-client-urls: {client}\nadvertise-client-urls: {client}\n"
        f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\n"
        f"initial-cluster: default={peer}\n"
    )
    yaml = data_dir / "configs" / "milvus.yaml"
    text = yaml.read_text().replace("\netcd:\n", f"\netcd:\n  config:\n    path: {etcd}\n", 1)
    tick = "  timeTickInterval: 200 #"
    if tick not in text:
        raise MilvusStartError(f"{yaml}: no proxy.timeTickInterval to set")
    text = text.replace(tick, f"  timeTickInterval: {time_tick_ms} #", 1)
    ttl = "    ttl: 30 #"
    if ttl not in text:
        raise MilvusStartError(f"{yaml}: no common.session.ttl to set")
    # Milvus' components keep 30 s leases in its embedded etcd and exit when one lapses: a
    # test machine that stalls half a minute (a paused VM was seen in a CI run, or starvation
    # on a busy 2-core box) killed the session's server for every later test. A test server
    # has nothing to fail over to, so a long lease only costs a slower exit.
    text = text.replace(ttl, f"    ttl: {SESSION_TTL_S} #", 1)
    if fast_load:
        for key in ("checkInterval", "distPullInterval"):  # in the template: drop them
            text = re.sub(rf"\n  {key}: \d+[^\n]*", "", text, count=1)
        settings = "".join(f"  {key}: {value}\n" for key, value in FAST_LOAD.items())
        text = text.replace("\nqueryCoord:\n", f"\nqueryCoord:\n{settings}", 1)
    yaml.write_text(text)


@contextlib.contextmanager
def running_milvus(
    data_dir: Path,
    *,
    start_timeout: float = START_TIMEOUT_S,
    time_tick_ms: int = 200,
    fast_load: bool = False,
) -> Iterator[str]:
    """A server for the duration of the block; yields its uri, stops it by pid after."""
    server = start_milvus(
        data_dir, start_timeout=start_timeout, time_tick_ms=time_tick_ms, fast_load=fast_load
    )
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def milvus_server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real Milvus server for the whole test session (skips without ``milvus``)."""
    pytest.importorskip("milvus", reason="the milvus package (a Milvus 2.3 server) is missing")
    pytest.importorskip("pymilvus", reason="pymilvus (simsearch[milvus]) is missing")
    with running_milvus(
        tmp_path_factory.mktemp("milvus-server"), time_tick_ms=TEST_TIME_TICK_MS, fast_load=True
    ) as uri:
        yield uri


def _wait_until_answering(server: MilvusServer, timeout: float, token: str = "") -> None:
    from pymilvus import MilvusClient

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise MilvusStartError(
                f"milvus-server exited ({server.process.returncode}){_tail(server)}"
            )
        try:
            client = MilvusClient(uri=server.uri, token=token, timeout=5)
            try:
                client.list_collections()
                return
            finally:
                client.close()
        except Exception as exc:  # not answering yet: connection refused, not ready ...
            last = exc
            time.sleep(0.5)
    raise MilvusStartError(
        f"milvus-server at {server.uri} did not answer within {timeout:.0f} s "
        f"(last error: {last}){_tail(server)}"
    )


def _tail(server: MilvusServer, lines: int = 20) -> str:
    try:
        text = server.log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n" + "\n".join(text)


def _link_binaries(data_dir: Path) -> Path:
    """``data_dir/bin`` -> the shared unpacked binaries (unpacked once, under a lock); returns
    the server binary."""
    import milvus

    cache = Path(tempfile.gettempdir()) / f"simsearch-milvus-server-{milvus.__version__}"
    cache.mkdir(exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            milvus._initialize_data_files(str(cache))  # skips files whose md5 matches
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    link = data_dir / "bin"
    if not link.exists():
        link.symlink_to(cache / "bin", target_is_directory=True)
    return cache / "bin" / "milvus"


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, even by SIGKILL, so no
    server outlives its session (Linux; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
