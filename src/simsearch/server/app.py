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
from typing import IO

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from simsearch.config import ServerConfig
from simsearch.encoder import load_encoder
from simsearch.engine import Engine
from simsearch.errors import UnavailableError
from simsearch.index import FaissCatalog
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

    def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", SERVICE_NAME):
            self.health.set(name, status)

    def stop(self, grace: float = SHUTDOWN_GRACE_S) -> None:
        """NOT_SERVING, drain in-flight calls, then close the collections (checkpoints)."""
        self.set_serving(False)
        self.server.stop(grace).wait()
        self.engine.close()


def build_engine(config: ServerConfig) -> Engine:
    """Load the model and open the data directory (slow: seconds to minutes)."""
    encoder = load_encoder(
        config.model,
        device=config.device,
        max_length=config.max_length,
        batch_size=config.batch_size,
        allow_download=config.allow_download,
    )
    catalog = FaissCatalog(config.data_dir, checkpoint_every=config.checkpoint_every)
    return Engine(encoder, catalog, config.limits)


def create_server(config: ServerConfig, engine: Engine) -> RunningServer:
    """Register the service, health and reflection; bind and start (NOT_SERVING until serve)."""
    size = config.limits.max_message_bytes
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="rpc"),
        options=[
            ("grpc.max_receive_message_length", size),
            ("grpc.max_send_message_length", size),
            ("grpc.so_reuseport", 0),
        ],
    )
    simsearch_pb2_grpc.add_SimSearchServicer_to_server(SimSearchServicer(engine), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(f"{_bracket(config.host)}:{config.port}")
    server.start()
    running = RunningServer(server, port, health_servicer, engine)
    running.set_serving(False)
    return running


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
