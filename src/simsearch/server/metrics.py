"""Prometheus metrics, for a person (or Prometheus) to read while the server runs.

``--metrics-port PORT`` serves them at ``http://HOST:PORT/metrics`` on the gRPC host (off by
default); with TLS on, the endpoint uses the same certificate and key, and with a client CA it
requires client certificates too. It has no API keys: bind it where only scrapers can reach it.

=============================================  ==========  ========================================
``simsearch_requests_total{method,code}``      counter     SimSearch calls answered, by status code
``simsearch_request_seconds{method,code}``     histogram   seconds from handler start to answer
``simsearch_rpcs_in_flight``                   gauge       SimSearch calls being served now
``simsearch_encoder_batch_size``               histogram   texts per forward pass
``simsearch_encoder_tokens_total``             counter     real tokens through the model
``simsearch_encoder_queue_depth``              gauge       texts waiting for the encoder
``simsearch_collection_documents{collection}`` gauge       live documents per collection
=============================================  ==========  ========================================

The encoder and the collections know nothing of Prometheus (only ``server`` imports it): the
queue depth and collection sizes are read when scraped through plain callables given to
:meth:`Metrics.watch_queue_depth` and :meth:`Metrics.watch_collections`, and the encoder reports
each forward pass by calling :meth:`Metrics.observe_batch`, a plain ``(rows, tokens)`` callable
(``build_engine`` hands it to ``load_encoder(on_batch=...)``). Tokens are the texts' real
tokens, special tokens included and padding excluded: what the inputs cost, whatever batch they
shared; a pass that fails is not counted.
Every ``Metrics`` has its own registry, so servers in one process (tests) do not collide.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from simsearch.server.method_handlers import (
    Behavior,
    SimSearchInterceptor,
    method_name,
    replace_behavior,
)
from simsearch.server.tls import TlsFiles

if TYPE_CHECKING:
    from simsearch.server.method_handlers import Handler

__all__ = ["Metrics", "MetricsEndpoint", "MetricsInterceptor", "start_endpoint"]

logger = logging.getLogger("simsearch.server")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

CollectionSizes = Callable[[], Iterable[tuple[str, int]]]


class Metrics:
    """The server's metrics in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "simsearch_requests", "SimSearch calls answered, by method and status code",
            ["method", "code"], registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "simsearch_request_seconds", "Seconds from handler start to answer",
            ["method", "code"], buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.in_flight = Gauge(
            "simsearch_rpcs_in_flight", "SimSearch calls being served now", registry=registry
        )
        self.batch_size = Histogram(
            "simsearch_encoder_batch_size", "Texts per forward pass of the model",
            buckets=_BATCH_BUCKETS, registry=registry,
        )  # fmt: skip
        self.tokens = Counter(
            "simsearch_encoder_tokens",
            "Real tokens through the model (special tokens included, padding excluded)",
            registry=registry,
        )
        self.queue_depth = Gauge(
            "simsearch_encoder_queue_depth", "Texts waiting for the encoder", registry=registry
        )
        # (method, code) -> its request counter and latency histogram: labels() looks them
        # up under a lock on every call otherwise.
        self._children: dict[tuple[str, grpc.StatusCode], tuple[Any, Any]] = {}

    def observe_batch(self, rows: int, tokens: int) -> None:
        """One forward pass of ``rows`` texts holding ``tokens`` tokens (padding excluded)."""
        self.batch_size.observe(rows)
        self.tokens.inc(tokens)

    def watch_queue_depth(self, queued: Callable[[], int]) -> None:
        """Read the encoder's queue depth from ``queued()`` at each scrape."""
        self.queue_depth.set_function(lambda: float(queued()))

    def watch_collections(self, sizes: CollectionSizes) -> None:
        """Read ``(name, live documents)`` of every collection from ``sizes()`` at each scrape."""
        self.registry.register(_CollectionSizes(sizes))

    def record(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        children = self._children.get((method, code))
        if children is None:
            children = (
                self.requests.labels(method, code.name),
                self.latency.labels(method, code.name),
            )
            self._children[(method, code)] = children  # methods x codes: a bounded set
        requests, latency = children
        requests.inc()
        latency.observe(seconds)


class _CollectionSizes(Collector):
    def __init__(self, sizes: CollectionSizes) -> None:
        self._sizes = sizes

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration; collect() would open collections

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "simsearch_collection_documents", "Live documents per collection", labels=["collection"]
        )
        try:
            for name, count in self._sizes():
                family.add_metric([name], count)
        except Exception:  # a scrape during shutdown or a failing store: report what we have
            logger.debug("collection sizes unavailable for metrics", exc_info=True)
        yield family


class MetricsInterceptor(SimSearchInterceptor):
    """Counts and times every SimSearch call, refusals by the other interceptors included."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self._metrics = metrics

    def _wrap(self, method: str, handler: Handler) -> Handler:
        measure = self._measured_stream if handler.response_streaming else self._measured
        return replace_behavior(handler, lambda behavior: measure(method, behavior))

    def _measured(self, full_method: str, behavior: Behavior) -> Behavior:
        method = method_name(full_method)
        metrics = self._metrics
        in_flight = metrics.in_flight

        def measured(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            in_flight.inc()
            try:
                return behavior(request, context)
            except BaseException:  # context.abort raises; its code is on the context
                code = _context_code(context) or grpc.StatusCode.UNKNOWN
                raise
            finally:
                in_flight.dec()
                metrics.record(method, code, time.perf_counter() - start)

        return measured

    def _measured_stream(self, full_method: str, behavior: Behavior) -> Behavior:
        """A response stream (Export): timed from its first message asked to its last sent."""
        method = method_name(full_method)
        metrics = self._metrics

        def measured(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            metrics.in_flight.inc()
            try:
                yield from behavior(request, context)
            except GeneratorExit:  # grpc stopped asking: the caller has gone
                code = grpc.StatusCode.CANCELLED
                raise
            except BaseException:  # context.abort raises; its code is on the context
                code = _context_code(context) or grpc.StatusCode.UNKNOWN
                raise
            finally:
                metrics.in_flight.dec()
                metrics.record(method, code, time.perf_counter() - start)

        return measured


def _context_code(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    code = getattr(context, "code", None)  # grpc's context has code(); its stubs lack it
    value = code() if callable(code) else None
    return value if isinstance(value, grpc.StatusCode) else None


class MetricsEndpoint:
    """The HTTP(S) server behind ``/metrics``; :meth:`close` stops it."""

    def __init__(self, server: WSGIServer) -> None:
        self._server = server

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_endpoint(metrics: Metrics, host: str, port: int, tls: TlsFiles | None) -> MetricsEndpoint:
    """Serve ``metrics`` on ``host:port`` (HTTPS with ``tls``) in a daemon thread."""
    options: dict[str, Any] = {}
    if tls is not None:
        options = {"certfile": str(tls.cert), "keyfile": str(tls.key)}
        if tls.client_ca is not None:
            options.update(client_cafile=str(tls.client_ca), client_auth_required=True)
    server, _ = start_http_server(port, host.strip("[]"), metrics.registry, **options)
    logger.info("metrics on %s://%s:%d/metrics", "https" if tls else "http", host, port)
    return MetricsEndpoint(server)
