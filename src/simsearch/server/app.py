"""Build the engine and the gRPC server in one place, run it in another.

``create_server(config, engine)`` returns a ``RunningServer``: started but not serving, with its
bound port (tests bind port 0). ``simsearch serve`` does the same in two steps, ``bind_server``
before the model loads (a port in use fails at once) and ``BoundServer.start(engine)`` after.
``serve`` marks it SERVING, waits, and on SIGTERM or SIGINT drains in-flight calls, writes
every collection's checkpoint and returns.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Protocol, runtime_checkable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from simsearch.config import ServerConfig
from simsearch.encoder import EncoderOptions, load_encoder
from simsearch.engine import Engine
from simsearch.engine.ports import Catalog, Encoder
from simsearch.errors import FailedPreconditionError, UnavailableError
from simsearch.index import FaissCatalog
from simsearch.index.permissions import make_private_directory
from simsearch.server.limits import ConcurrencyLimit, pool_size
from simsearch.server.metrics import Metrics, MetricsEndpoint, MetricsInterceptor, start_endpoint
from simsearch.server.ports import bind_port
from simsearch.server.reflection import SERVICE_NAME as REFLECTION
from simsearch.server.reflection import enable_reflection
from simsearch.server.request_decoding import DecodeRequests, grpc_receive_limit
from simsearch.server.security import Security, load_security, log_exposure
from simsearch.server.servicer import SimSearchServicer
from simsearch.server.streams import Streams
from simsearch.v1 import simsearch_pb2, simsearch_pb2_grpc

__all__ = ["BoundServer", "RunningServer", "bind_server", "build_engine", "create_server", "serve"]

logger = logging.getLogger("simsearch.server")

SERVICE_NAME = simsearch_pb2.DESCRIPTOR.services_by_name["SimSearch"].full_name
SHUTDOWN_GRACE_S = 10.0
STATUS_LINGER_S = 1.0  # how long stopped streams' clients get to read their status
SIGNAL_POLL_S = 0.1  # how often serve() looks for a received SIGTERM / SIGINT


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
    streams: Streams | None = None

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
        the configured shutdown grace), then close the collections (checkpoints).

        Request streams stop taking chunks at once and end with UNAVAILABLE and their
        committed count (``server.streams``): a bulk upsert could outlast any grace, and a call
        the grace cancels tells its client nothing. So the whole grace is left for the chunk
        each stream is embedding."""
        self.set_serving(False)
        self.health.enter_graceful_shutdown()  # no later set() can turn it SERVING again
        grace = self.grace if grace is None else grace
        started = time.monotonic()
        if self.streams is not None and self.streams.close(wait_s=grace):
            # A client still sending on a stream when the connection closes gets a TCP reset,
            # which can drop the status (and its committed count) before the client reads it.
            time.sleep(min(STATUS_LINGER_S, grace))
        self.server.stop(max(0.0, grace - (time.monotonic() - started))).wait()
        self.engine.close()
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()


@runtime_checkable
class _QueueDepth(Protocol):
    @property
    def queued(self) -> int: ...


def model_cache_dir(config: ServerConfig) -> Path:
    """Where converted models are cached: the setting, else ``.models`` in the data directory
    (a leading dot: never a collection's name)."""
    return config.model_cache_dir or config.data_dir / ".models"


def build_engine(config: ServerConfig, metrics: Metrics | None = None) -> Engine:
    """Load the model and open every collection before serving (slow: seconds to minutes), so
    damage is found at start, not at the first request; ``metrics`` then reads the encoder's
    queue depth where the encoder reports one.

    A collection that cannot be opened is logged (one ERROR line naming it and the cause, by
    the catalog) and reported unavailable by List/Describe; the others are served. One bad
    collection never takes the service down."""
    encoder = _load_encoder(config, metrics)
    if metrics is not None and isinstance(encoder, _QueueDepth):
        metrics.watch_queue_depth(lambda: encoder.queued)
    catalog = _open_catalog(config)
    names = catalog.names()
    unavailable = [name for name in names if not _opens(catalog, name)]
    if unavailable:
        logger.warning(
            "serving %d of %d collections; unavailable until repaired or dropped: %s",
            len(names) - len(unavailable),
            len(names),
            ", ".join(map(repr, unavailable)),
        )
    engine = Engine(encoder, catalog, config.limits, owns_encoder=True)
    _warn_other_models(engine)
    return engine


def _load_encoder(config: ServerConfig, metrics: Metrics | None) -> Encoder:
    """The model in this process, or replicas of it on Ray Serve (``encoder=ray``; the extra
    ``simsearch[ray]``, imported only then). Replicas report batches to their own process, so
    ``metrics`` sees batches of the local encoder only."""
    options = EncoderOptions(
        model=config.model,
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
        engine=config.engine,
        cache_dir=model_cache_dir(config).resolve(),  # replicas run in other directories
        int8_calibration=config.int8_calibration,
    )
    if config.encoder == "ray":
        with _extra("ray", "--encoder ray"):
            from simsearch.encoder.ray_serve import load_ray_encoder
        return load_ray_encoder(options, address=config.ray_address, replicas=config.replicas)
    return load_encoder(
        **options.as_kwargs(), on_batch=None if metrics is None else metrics.observe_batch
    )


def _open_catalog(config: ServerConfig) -> Catalog:
    """Collections in the data directory (FAISS + SQLite), or in Milvus (``store=milvus``; the
    extra ``simsearch[milvus]``, imported only then)."""
    if config.store == "milvus":
        with _extra("milvus", "--store milvus"):
            from simsearch.index.milvus import MilvusCatalog
        return MilvusCatalog(config.milvus_uri, token=config.milvus_token)
    return FaissCatalog(config.data_dir, checkpoint_every=config.checkpoint_every)


@contextmanager
def _extra(extra: str, setting: str) -> Iterator[None]:
    """An optional extra's import failing says which extra the setting needs."""
    try:
        yield
    except ImportError as exc:
        raise FailedPreconditionError(
            f"{setting} needs the extra simsearch[{extra}]: pip install 'simsearch[{extra}]' "
            f"({exc})"
        ) from exc


def _warn_other_models(engine: Engine) -> None:
    """One warning naming the collections built with another model than the loaded one."""
    other = [i.spec for i in engine.list_collections() if not i.compatible and not i.unavailable]
    if other:
        logger.warning(
            "built with another model than %r: %s; their documents can be read (Get, Export) "
            "and deleted, not searched or written: move one with `simsearch export NAME > "
            "docs.jsonl` and upsert the file into a collection created under this model",
            engine.model.name,
            ", ".join(f"collection {spec.name!r} (model {spec.model_name!r})" for spec in other),
        )


def _opens(catalog: Catalog, name: str) -> bool:
    """Open (and check) one collection; False if it is unavailable (the catalog logs why)."""
    try:
        catalog.open(name)
    except UnavailableError:
        return False
    return True


@dataclass
class BoundServer:
    """A gRPC server listening on its port but not started: ``start(engine)`` registers the
    services and starts it.

    ``simsearch serve`` binds before it loads the model, so a port in use is reported at once,
    not after a load of seconds to minutes. Connections made before the start wait, unanswered,
    until it."""

    config: ServerConfig
    server: grpc.Server
    port: int
    security: Security
    metrics: Metrics

    def start(self, engine: Engine) -> RunningServer:
        """Register the service, health and reflection and start (NOT_SERVING until serve)."""
        config, metrics = self.config, self.metrics
        metrics.watch_collections(
            lambda: [(c.spec.name, c.count) for c in engine.list_collections()]
        )
        streams = Streams(config.limits.stream_idle_timeout_s)
        health_servicer = self._register(engine, streams)
        self.server.start()
        endpoint = None
        if config.metrics_port:
            endpoint = start_endpoint(metrics, config.host, config.metrics_port, self.security.tls)
        log_exposure(config.host, self.security)
        running = RunningServer(
            self.server, self.port, health_servicer, engine, metrics, endpoint,
            config.shutdown_grace, streams,
        )  # fmt: skip
        running.set_serving(False)
        return running

    def _register(self, engine: Engine, streams: Streams) -> health.HealthServicer:
        """Add the SimSearch service, health and (unless off) reflection; the health servicer."""
        servicer = SimSearchServicer(engine, streams)
        simsearch_pb2_grpc.add_SimSearchServicer_to_server(servicer, self.server)
        health_servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, self.server)
        if self.security.reflection != "off":
            enable_reflection(self.server, (SERVICE_NAME, health.SERVICE_NAME, REFLECTION))
        return health_servicer


def bind_server(
    config: ServerConfig, *, security: Security | None = None, metrics: Metrics | None = None
) -> BoundServer:
    """The gRPC server with its interceptors, bound to ``config.host:config.port`` (port 0: a
    free one, see ``BoundServer.port``) and not started.

    ``security`` (keys, TLS) and ``metrics`` are loaded from ``config`` / made when not given.
    Interceptors, outermost first: metrics (so refusals are counted), API keys, concurrency,
    request decoding (undecodable bytes: INVALID_ARGUMENT, see ``server.request_decoding``).
    A port that cannot be bound raises ``OSError`` saying which setting to change.
    """
    security = load_security(config) if security is None else security
    metrics = Metrics() if metrics is None else metrics
    server = _grpc_server(config, security, metrics)
    port = bind_port(server, config.host, config.port, security.credentials())
    return BoundServer(config, server, port, security, metrics)


def create_server(
    config: ServerConfig,
    engine: Engine,
    *,
    security: Security | None = None,
    metrics: Metrics | None = None,
) -> RunningServer:
    """``bind_server`` and ``start`` in one step: a started server, NOT_SERVING until serve."""
    return bind_server(config, security=security, metrics=metrics).start(engine)


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
            DecodeRequests(size),  # innermost: the outer ones keep its deserializer
        ],
        options=[
            ("grpc.max_receive_message_length", grpc_receive_limit(size)),
            ("grpc.max_send_message_length", size),
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=threads,
    )


def serve(running: RunningServer) -> None:
    """Mark SERVING and block until SIGTERM/SIGINT, then stop gracefully.

    The signal handler only records the signal. Python runs it in the main thread between two
    bytecodes, wherever that thread was, so a lock taken there (an ``Event``'s, logging's) can
    deadlock against the code it interrupted. The main thread looks every ``SIGNAL_POLL_S``
    instead of blocking with no timeout: a blocked main thread never runs a handler for a
    signal the kernel handed to another thread.
    """
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)  # nothing more: see above

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    running.set_serving(True)
    logger.info("serving on port %d", running.port)
    while not received:
        time.sleep(SIGNAL_POLL_S)
    logger.info("received %s: draining and stopping", signal.Signals(received[0]).name)
    running.stop()
    logger.info("stopped")


def lock_data_dir(data_dir: Path) -> ExitStack:
    """Hold an exclusive lock on the data directory: one server per directory.

    The lock is an ``flock`` on the directory itself, not on a file inside it: a lock file can
    be deleted while the server runs, and a second server would then lock a new file and serve
    the same collections from an index that no longer follows the writes. The directory cannot
    be replaced while it holds them. The directory is created 0700 if missing (the catalog
    warns about a loose mode). The returned stack holds the descriptor: keep it open (``with``)
    for the server's lifetime; the OS drops the lock when the process exits, however it exits.
    """
    make_private_directory(data_dir, warn=False)
    held = ExitStack()
    descriptor = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
    held.callback(os.close, descriptor)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.close()
        raise UnavailableError(
            f"another simsearch server is using {data_dir}: stop it or pick another --data-dir"
        ) from None
    return held
