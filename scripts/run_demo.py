"""Start the server on the bundled model, load examples/demo.jsonl, show a search, keep serving.

Used by `make run`. Ctrl-C stops the server (it checkpoints and exits cleanly).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from simsearch.client import Client
from simsearch.errors import DeadlineExceededError

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["someone is making music", "what is the weather going to be like?"]
START_S = 600.0  # the first start converts the model: minutes on a slow machine


def wait_serving(client: Client, server: subprocess.Popen[bytes]) -> None:
    def exited() -> None:
        if server.poll() is not None:
            raise SystemExit("the server exited during start-up; see its log above")

    try:
        client.wait_until_serving(START_S, check=exited)
    except DeadlineExceededError as exc:
        server.terminate()
        raise SystemExit(str(exc)) from None


def load_demo(client: Client) -> None:
    if "demo" not in [c.spec.name for c in client.list_collections()]:
        client.create_collection("demo", pooling="mean")
    lines = (ROOT / "examples/demo.jsonl").read_text().splitlines()
    result = client.upsert("demo", [json.loads(line) for line in lines])
    print(f"collection 'demo': {result.upserted} documents (mean pooling)")


def show_search(client: Client) -> None:
    results = client.search("demo", QUERIES, k=3)
    for query, hits in zip(QUERIES, results, strict=True):
        print(f"\nsearch {query!r}")
        for rank, hit in enumerate(hits, 1):
            print(f"  {rank}. {hit.score:.4f}  {hit.id:<8} {hit.text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=50051)
    parser.add_argument("--data-dir", default=str(ROOT / "data"))
    args = parser.parse_args()
    command = [sys.executable, "-m", "simsearch", "serve", "--port", str(args.port)]
    server = subprocess.Popen([*command, "--data-dir", args.data_dir])
    try:
        with Client(f"127.0.0.1:{args.port}") as client:
            wait_serving(client, server)
            load_demo(client)
            show_search(client)
        print(f"\nserving on 127.0.0.1:{args.port}; Ctrl-C stops it")
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        return server.wait()


if __name__ == "__main__":
    raise SystemExit(main())
