"""Build the engine and the gRPC server in one place, run it in another.

``create_server(config, engine)`` returns a started-but-not-serving server and its port (tests
bind port 0); ``serve`` marks it SERVING, waits, and on SIGTERM or SIGINT drains in-flight
calls, writes every collection's checkpoint and returns.
"""

from __future__ import annotations

import fcntl
import logging
import signal
import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Protocol, runtime_checkable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from simsearch.config import ServerConfig
from simsearch.encoder import load_encoder
from simsearch.engine import Engine
from simsearch.errors import UnavailableError
from simsearch.index import FaissCatalog
from simsearch.server.decoding import DecodeRequests
from simsearch.server.limits import ConcurrencyLimit, pool_size
from simsearch.server.metrics import Metrics, MetricsEndpoint, MetricsInterceptor, start_endpoint
from simsearch.server.security import Security, load_security, log_exposure
from simsearch.server.servicer import SimSearchServicer
from simsearch.v1 import simsearch_pb2, simsearch_pb2_grpc

__all__ = ["RunningServer", "build_engine", "create_server", "serve"]

logger = logging.getLogger("simsearch.server")

SERVICE_NAME = simsearch_pb2.DESCRIPTOR.services_by_name["SimSearch"].full_name
SHUTDOWN_GRACE_S = 10.0


@dataclass
class RunningServer:
    """A started gRPC server, its bound port, its health servicer and its engine."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    engine: Engine
    metrics: Metrics | None = None
    metrics_endpoint: MetricsEndpoint | None = None
    grace: float = SHUTDOWN_GRACE_S

    def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", SERVICE_NAME):
            self.health.set(name, status)

    def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING for good, drain in-flight calls for up to ``grace`` seconds (default:
        the configured shutdown grace), then close the collections (checkpoints)."""
        self.set_serving(False)
        self.health.enter_graceful_shutdown()  # no later set() can turn it SERVING again
        self.server.stop(self.grace if grace is None else grace).wait()
        self.engine.close()
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()


@runtime_checkable
class _QueueDepth(Protocol):
    @property
    def queued(self) -> int: ...


def build_engine(config: ServerConfig, metrics: Metrics | None = None) -> Engine:
    """Load the model and open every collection, so a damaged store stops the start (slow:
    seconds to minutes); ``metrics`` then reads the encoder's queue depth where the encoder
    reports one."""
    encoder = load_encoder(
        config.model,
        device=config.device,
        max_length=config.max_length,
        batch_size=config.batch_size,
        dtype=config.dtype,
        int8=config.int8,
        threads=config.threads,
        batch_tokens=config.batch_tokens,
        batch_wait_ms=config.batch_wait_ms,
        max_queue_depth=config.limits.max_queue_depth,
        allow_download=config.allow_download,
    )
    if metrics is not None and isinstance(encoder, _QueueDepth):
        metrics.watch_queue_depth(lambda: encoder.queued)
    catalog = FaissCatalog(config.data_dir, checkpoint_every=config.checkpoint_every)
    for name in catalog.names():  # open (and check) every collection before serving any
        catalog.open(name)
    return Engine(encoder, catalog, config.limits, owns_encoder=True)


def create_server(
    config: ServerConfig,
    engine: Engine,
    *,
    security: Security | None = None,
    metrics: Metrics | None = None,
) -> RunningServer:
    """Register the service, health and reflection; bind and start (NOT_SERVING until serve).

    ``security`` (keys, TLS) and ``metrics`` are loaded from ``config`` / made when not given.
    Interceptors, outermost first: metrics (so refusals are counted), API keys, concurrency,
    request decoding (undecodable bytes: INVALID_ARGUMENT, see ``server.decoding``).
    """
    security = load_security(config) if security is None else security
    metrics = Metrics() if metrics is None else metrics
    metrics.watch_collections(lambda: [(c.spec.name, c.count) for c in engine.list_collections()])
    server = _grpc_server(config, security, metrics)
    simsearch_pb2_grpc.add_SimSearchServicer_to_server(SimSearchServicer(engine), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if security.reflection != "off":
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
    address = f"{_bracket(config.host)}:{config.port}"
    credentials = security.credentials()
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    server.start()
    endpoint = None
    if config.metrics_port:
        endpoint = start_endpoint(metrics, config.host, config.metrics_port, security.tls)
    log_exposure(config.host, security)
    running = RunningServer(
        server, port, health_servicer, engine, metrics, endpoint, config.shutdown_grace
    )
    running.set_serving(False)
    return running


def _grpc_server(config: ServerConfig, security: Security, metrics: Metrics) -> grpc.Server:
    """The server with its thread pool sized for fast refusals (see ``server.limits``)."""
    size = config.limits.max_message_bytes
    limit = config.limits.max_concurrent_rpcs
    threads = pool_size(limit, config.workers)
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rpc"),
        interceptors=[
            MetricsInterceptor(metrics),
            *security.interceptors(),
            ConcurrencyLimit(limit),
            DecodeRequests(),  # innermost: the outer ones keep its deserializer
        ],
        options=[
            ("grpc.max_receive_message_length", size),
            ("grpc.max_send_message_length", size),
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=threads,
    )


def serve(running: RunningServer) -> None:
    """Mark SERVING and block until SIGTERM/SIGINT, then stop gracefully."""
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s: draining and stopping", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    running.set_serving(True)
    logger.info("serving on port %d", running.port)
    stopping.wait()
    running.stop()
    logger.info("stopped")


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the data directory: one server per directory.

    The returned file must stay open for the server's lifetime; the OS drops the lock when the
    process exits, however it exits.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / ".lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UnavailableError(
            f"another simsearch server is using {data_dir}: stop it or pick another --data-dir"
        ) from None
    return handle


def _bracket(host: str) -> str:
    """IPv6 literals need brackets in a gRPC address."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
