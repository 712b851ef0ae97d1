"""The Prometheus endpoint: requests, errors and latency per RPC and code, encoder and collection
gauges, HTTPS with the server's certificate, and gone once the server stops; the encoder's
batch sizes and tokens, as a real ``simsearch serve`` reports them."""

from __future__ import annotations

import socket
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from simsearch.client import Client
from simsearch.errors import NotFoundError
from simsearch.server.metrics import Metrics
from support.security import StartServer

from .certs import Pki
from .process import ServerProcess


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(url: str, context: ssl.SSLContext | None = None) -> dict[tuple[str, str], float]:
    """Every sample as {(name, sorted labels): value}."""
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            samples[(s.name, labels)] = s.value
    return samples


def test_requests_errors_latency_and_collection_sizes(start_server: StartServer) -> None:
    port = free_port()
    server = start_server(metrics_port=port)
    with Client(f"127.0.0.1:{server.port}") as client:
        client.create_collection("docs")
        client.upsert("docs", [{"id": str(i), "text": f"text {i}"} for i in range(3)])
        client.encode(["hello"])
        with pytest.raises(NotFoundError):
            client.describe_collection("absent")
    got = scrape(f"http://127.0.0.1:{port}/metrics")
    assert got[("simsearch_requests_total", "code=OK,method=Encode")] == 1
    assert got[("simsearch_requests_total", "code=NOT_FOUND,method=DescribeCollection")] == 1
    assert got[("simsearch_request_seconds_count", "code=OK,method=Encode")] == 1
    assert got[("simsearch_request_seconds_bucket", "code=OK,le=+Inf,method=Encode")] == 1
    assert got[("simsearch_collection_documents", "collection=docs")] == 3
    assert got[("simsearch_rpcs_in_flight", "")] == 0
    for name in ("simsearch_encoder_queue_depth", "simsearch_encoder_tokens_total"):
        assert (name, "") in got
    server.stop(grace=0.5)
    with pytest.raises(URLError):
        scrape(f"http://127.0.0.1:{port}/metrics")


# Each call is one forward pass: one job alone in the queue, its texts close in length (cutting
# them into two passes would cost more than their padding), so counts and buckets are exact.
CALLS = [
    ["hello"],
    ["hello world", "the quick brown fox jumps over the lazy dog", "我喜欢北京"],
    ["a cat", "two dogs play in the park", "sun", "the weather is nice today", "学习语言"],
]


@pytest.fixture
def serve_process(tiny_model_dir: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tiny_model_dir, tmp_path / "data", tmp_path / "server.log")
    yield process.wait_ready()
    process.kill()


def test_each_forward_pass_is_counted_with_its_texts_and_real_tokens(
    serve_process: ServerProcess, tiny_model_dir: Path
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir), local_files_only=True)
    with Client(serve_process.address) as client:
        for texts in CALLS:
            client.encode(texts)
    got = scrape(f"http://127.0.0.1:{serve_process.metrics_port}/metrics")
    tokens = sum(len(tokenizer(text)["input_ids"]) for texts in CALLS for text in texts)
    assert tokens == 3 + (4 + 11 + 7) + (4 + 8 + 3 + 7 + 6)  # special tokens in, padding out
    assert got[("simsearch_encoder_tokens_total", "")] == tokens
    assert got[("simsearch_encoder_batch_size_count", "")] == len(CALLS)
    assert got[("simsearch_encoder_batch_size_sum", "")] == sum(len(texts) for texts in CALLS)
    buckets = {
        le: got[("simsearch_encoder_batch_size_bucket", f"le={le}")]
        for le in ("1.0", "2.0", "4.0", "8.0")
    }
    assert buckets == {"1.0": 1, "2.0": 1, "4.0": 2, "8.0": 3}


def test_what_the_encoder_reports() -> None:
    metrics = Metrics()
    metrics.observe_batch(rows=8, tokens=100)
    metrics.observe_batch(rows=2, tokens=20)
    metrics.watch_queue_depth(lambda: 5)
    value = metrics.registry.get_sample_value
    assert value("simsearch_encoder_batch_size_count") == 2
    assert value("simsearch_encoder_batch_size_sum") == 10
    assert value("simsearch_encoder_tokens_total") == 120
    assert value("simsearch_encoder_queue_depth") == 5


def test_a_failing_size_source_does_not_break_the_scrape() -> None:
    metrics = Metrics()

    def broken() -> list[tuple[str, int]]:
        raise RuntimeError("store closed")

    metrics.watch_collections(broken)
    text = generate_latest(metrics.registry).decode()
    assert "# TYPE simsearch_collection_documents gauge" in text
    assert "simsearch_collection_documents{" not in text
    assert "simsearch_rpcs_in_flight 0.0" in text


def test_https_with_the_servers_certificate(start_server: StartServer, pki: Pki) -> None:
    port = free_port()
    start_server(
        metrics_port=port, tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca
    )
    context = ssl.create_default_context(cafile=str(pki.ca))
    context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    assert ("simsearch_rpcs_in_flight", "") in scrape(f"https://127.0.0.1:{port}/metrics", context)
    without_cert = ssl.create_default_context(cafile=str(pki.ca))
    with pytest.raises((URLError, ssl.SSLError, ConnectionError)):
        scrape(f"https://127.0.0.1:{port}/metrics", without_cert)
