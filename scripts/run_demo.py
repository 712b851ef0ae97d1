"""Start the server on the bundled model, load examples/demo.jsonl, show a search, keep serving.

Used by `make run`. Ctrl-C stops the server (it checkpoints and exits cleanly).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from simsearch.v1 import simsearch_pb2 as pb
from simsearch.v1 import simsearch_pb2_grpc
from simsearch.wire import dict_to_struct

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["someone is making music", "what is the weather going to be like?"]


def wait_serving(channel: grpc.Channel, server: subprocess.Popen[bytes]) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    while server.poll() is None:
        try:
            status = health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
            if status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server exited during start-up; see its log above")


def load_demo(stub: simsearch_pb2_grpc.SimSearchStub) -> None:
    names = [c.name for c in stub.ListCollections(pb.ListCollectionsRequest()).collections]
    if "demo" not in names:
        stub.CreateCollection(pb.CreateCollectionRequest(name="demo", pooling=pb.POOLING_MEAN))
    rows = [json.loads(line) for line in (ROOT / "examples/demo.jsonl").read_text().splitlines()]
    documents = [
        pb.Document(id=r["id"], text=r["text"], metadata=dict_to_struct(r["metadata"]))
        for r in rows
    ]
    stub.Upsert(pb.UpsertRequest(collection="demo", documents=documents))
    print(f"collection 'demo': {len(documents)} documents (mean pooling)")


def show_search(stub: simsearch_pb2_grpc.SimSearchStub) -> None:
    response = stub.Search(pb.SearchRequest(collection="demo", texts=QUERIES, k=3))
    for query, result in zip(QUERIES, response.results, strict=True):
        print(f"\nsearch {query!r}")
        for rank, hit in enumerate(result.hits, 1):
            print(f"  {rank}. {hit.score:.4f}  {hit.id:<8} {hit.text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=50051)
    parser.add_argument("--data-dir", default=str(ROOT / "data"))
    args = parser.parse_args()
    command = [sys.executable, "-m", "simsearch.cli", "serve", "--port", str(args.port)]
    server = subprocess.Popen([*command, "--data-dir", args.data_dir])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{args.port}") as channel:
            wait_serving(channel, server)
            stub = simsearch_pb2_grpc.SimSearchStub(channel)
            load_demo(stub)
            show_search(stub)
        print(f"\nserving on 127.0.0.1:{args.port}; Ctrl-C stops it")
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        return server.wait()


if __name__ == "__main__":
    raise SystemExit(main())
