"""How fast an answer too large to send is refused: the bundled model, the default limits.

Starts an in-process server on the bundled all-MiniLM-L6-v2 (64 MiB messages), sends
EncodeTokens of 256 texts of the model's maximum length and Compare of 256 such pairs with
``similarity_matrix``, and prints each status, the time to it, the growth of the process's peak
RSS and the message. Not a test: run it by hand.

Usage: python tests/reliability/measure_response_size.py
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from simsearch.config import ServerConfig
from simsearch.server import build_engine, create_server
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc

GiB = 2**30


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, call: Any, request: Any) -> None:
    before, start = peak_rss_mib(), time.perf_counter()
    try:
        call(request, timeout=600)
        outcome = "OK"
    except grpc.RpcError as error:
        outcome = f"{error.code().name}: {error.details()}"
    seconds = time.perf_counter() - start
    print(f"{name}: {seconds:.2f} s, peak RSS +{peak_rss_mib() - before:.0f} MiB, {outcome}")


def main() -> None:
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=Path(tempfile.mkdtemp()))
    engine = build_engine(config)
    running = create_server(config, engine)
    running.set_serving(True)
    tokens = engine.model.max_length
    text = " ".join(["semantic"] * (tokens - 2))
    print(f"{engine.model.name}: {tokens} tokens, limit {config.limits.max_message_bytes:,} bytes")
    options = [("grpc.max_send_message_length", GiB), ("grpc.max_receive_message_length", GiB)]
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}", options=options) as channel:
            stub = simsearch_pb2_grpc.SimSearchStub(channel)
            measure(
                f"EncodeTokens 256 x {tokens} tokens",
                stub.EncodeTokens,
                pb.EncodeTokensRequest(texts=[text] * 256),
            )
            pairs = [pb.TextPair(a=text, b=text)] * 256
            measure(
                "Compare 256 pairs, similarity_matrix",
                stub.Compare,
                pb.CompareRequest(pairs=pairs, similarity_matrix=True),
            )
    finally:
        running.stop(grace=1.0)


if __name__ == "__main__":
    main()
