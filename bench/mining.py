"""Paraphrase mining through the service: time, the server's peak memory, and recall against
exact brute force.

Run from the repository root::

    .venv/bin/python bench/mining.py                       # 100k documents (ingest: long)
    .venv/bin/python bench/mining.py --documents 20000     # what fits a few minutes
    .venv/bin/python bench/mining.py --data-dir DIR        # keep the collections, reuse them

Documents are STS Benchmark sentences (``bench/common.sts_sentences``, read from
``../shared/data/stsbenchmark``), each in several perturbed variants so that a corpus of any
size has true paraphrase structure and no two texts are equal: the sentence itself, with a
word dropped, with a short prefix, and both. They go through the service like any upsert (a
``simsearch serve`` child process embeds them; ``--model``, default the bundled one), once
into a flat collection and once into an HNSW one. Then, per collection:

- ``MinePairs`` with ``--top-m`` (10) and ``--min-score``, timed from the request to the last
  message; the server's peak resident memory during the run (``VmHWM`` of its process, reset
  through ``/proc/PID/clear_refs`` just before; Linux only) beside its resident memory
  before the run;
- exact brute force over the stored vectors (Get with include_embeddings), numpy in float32
  chunks of rows: each document's top_m by descending score, then id; the reference pairs are
  every unordered pair in either document's top_m scoring at least min_score;
- recall: the share of reference pairs the stream listed; duplicates: pairs listed twice
  (always 0 by construction); extra: listed pairs not in the reference (near ties).

It prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from common import chunks, sts_sentences

from simsearch.client import Client
from simsearch.errors import DeadlineExceededError
from simsearch.types import Document

INDEXES = {"flat": "flat", "hnsw": "HNSW32 | efConstruction=64"}
PREFIXES = ("In short, ", "Reportedly, ", "Note that ")
_MiB = 1024 * 1024


@dataclass(frozen=True)
class Row:
    index: str
    documents: int
    pairs: int
    seconds: float
    rss_before_mib: float
    peak_mib: float
    recall: float
    duplicates: int
    extra: int


def documents(count: int) -> list[Document]:
    """``count`` distinct texts: STS-B sentences, then their perturbed variants."""
    sentences = sts_sentences()
    texts: dict[str, None] = {}
    for variant in range(8):
        for i, sentence in enumerate(sentences):
            texts.setdefault(_variant(sentence, variant, i))
            if len(texts) == count:
                return [Document(f"s{n:07d}", text) for n, text in enumerate(texts)]
    raise SystemExit(f"only {len(texts):,} distinct texts can be made; ask for fewer")


def _variant(sentence: str, variant: int, seed: int) -> str:
    words = sentence.split()
    if variant & 1 and len(words) > 3:  # drop one word (not the first)
        del words[1 + seed % (len(words) - 1)]
    text = " ".join(words)
    if variant & 2:
        text = PREFIXES[(seed + variant) % len(PREFIXES)] + text[:1].lower() + text[1:]
    if variant & 4:
        text = text.rstrip(".") + " indeed."
    return text


@contextmanager
def server(data_dir: Path, model: str) -> Iterator[tuple[str, int]]:
    """``simsearch serve`` as a child process; yields its address and pid."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "simsearch", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--data-dir", str(data_dir), "--model", model]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    try:
        with Client(address) as client:
            client.wait_until_serving(600, check=lambda: _alive(child))
        yield address, child.pid
    except DeadlineExceededError as exc:
        raise SystemExit(str(exc)) from None
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()


def _alive(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        raise SystemExit(f"the server exited with code {child.returncode}")


def _status_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / _MiB
    raise SystemExit(f"/proc/{pid}/status has no {field}")


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := current RSS


def ingest(client: Client, name: str, index: str, pooling: str, docs: Sequence[Document]) -> float:
    """Seconds to upsert ``docs`` into a new collection; 0 when a kept one holds them."""
    if name in {info.spec.name for info in client.list_collections()}:
        if client.describe_collection(name).count == len(docs):
            return 0.0
        client.drop_collection(name)
    client.create_collection(name, pooling=pooling, index=index)
    start = time.perf_counter()
    client.upsert_stream(name, docs, batch_size=256)
    return time.perf_counter() - start


def stored_vectors(client: Client, name: str, ids: Sequence[str]) -> npt.NDArray[np.float32]:
    return np.concatenate([client.get_embeddings(name, list(part)) for part in chunks(ids, 256)])


def reference_pairs(
    vectors: npt.NDArray[np.float32], top_m: int, min_score: float | None
) -> npt.NDArray[np.int64]:
    """Exact mining over ``vectors`` (rows in id order): encoded unordered pairs
    ``low * n + high``, sorted and unique."""
    n = len(vectors)
    encoded = []
    for start in range(0, n, 512):
        scores = vectors[start : start + 512] @ vectors.T  # (rows, n) float32
        rows = np.arange(len(scores))
        scores[rows, start + rows] = -np.inf  # not itself
        # The top_m by descending score, ties by id (column order), among the top_m + 1
        # candidates of argpartition.
        part = np.argpartition(-scores, top_m, axis=1)[:, : top_m + 1]
        for r, candidates in enumerate(part):
            order = candidates[np.lexsort((candidates, -scores[r, candidates]))][:top_m]
            kept = order[scores[r, order] >= (-np.inf if min_score is None else min_score)]
            a = start + r
            encoded.append(np.minimum(a, kept).astype(np.int64) * n + np.maximum(a, kept))
    return np.unique(np.concatenate(encoded))


def mine(
    client: Client, name: str, pid: int, top_m: int, min_score: float | None, index: dict[str, int]
) -> tuple[npt.NDArray[np.int64], int, float, float]:
    """Mined pairs (encoded), the count listed, seconds, and the server's peak RSS (MiB)."""
    n = len(index)
    _reset_peak(pid)
    start = time.perf_counter()
    listed = []
    for pair in client.mine_pairs(name, top_m=top_m, min_score=min_score):
        a, b = index[pair.a], index[pair.b]
        listed.append(min(a, b) * n + max(a, b))
    seconds = time.perf_counter() - start
    return np.asarray(listed, dtype=np.int64), len(listed), seconds, _status_mib(pid, "VmHWM")


def run(args: argparse.Namespace) -> list[Row]:
    docs = documents(args.documents)
    ids = [doc.id for doc in docs]  # already in id order
    position = {doc_id: i for i, doc_id in enumerate(ids)}
    with (
        _data_dir(args.data_dir) as data_dir,
        server(data_dir, args.model) as (address, pid),
        Client(address, timeout=600) as client,
    ):
        return [measure(client, pid, kind, docs, position, args) for kind in args.indexes]


@contextmanager
def _data_dir(kept: Path | None) -> Iterator[Path]:
    """``kept`` (its collections are kept for the next run), or a temporary directory."""
    if kept is not None:
        yield kept
        return
    with tempfile.TemporaryDirectory(prefix="simsearch-mining-") as data_dir:
        yield Path(data_dir)


def measure(
    client: Client,
    pid: int,
    kind: str,
    docs: Sequence[Document],
    position: dict[str, int],
    args: argparse.Namespace,
) -> Row:
    """Ingest ``docs`` into a collection of index ``kind``, mine it, compare, drop it."""
    name = f"mine_{kind}"
    seconds = ingest(client, name, INDEXES[kind], args.pooling, docs)
    if seconds:
        print(f"{kind}: ingested {len(docs):,} documents in {seconds:.0f} s", flush=True)
    else:
        print(f"{kind}: the kept collection holds the {len(docs):,} documents", flush=True)
    before = _status_mib(pid, "VmRSS")
    listed, count, took, peak = mine(client, name, pid, args.top_m, args.min_score, position)
    vectors = stored_vectors(client, name, list(position))
    reference = reference_pairs(vectors, args.top_m, args.min_score)
    unique = np.unique(listed)
    if args.data_dir is None:
        client.drop_collection(name)
    row = Row(
        index=kind,
        documents=len(docs),
        pairs=count,
        seconds=took,
        rss_before_mib=before,
        peak_mib=peak,
        recall=float(np.isin(reference, unique).mean()) if len(reference) else 1.0,
        duplicates=count - len(unique),
        extra=int((~np.isin(unique, reference)).sum()),
    )
    print(f"{kind}: {row}", flush=True)  # each row as soon as it is known
    return row


def print_markdown(rows: Sequence[Row], args: argparse.Namespace) -> None:
    threshold = "none" if args.min_score is None else f"{args.min_score}"
    print(
        f"\ntop_m {args.top_m}, min_score {threshold}, model {args.model}, pooling {args.pooling}"
    )
    print(
        "\n| index | documents | pairs | time (s) | documents/s | server RSS before (MiB) "
        "| server peak while mining (MiB) | recall | duplicates | extra |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row.index} | {row.documents:,} | {row.pairs:,} | {row.seconds:.1f} | "
            f"{row.documents / row.seconds:,.0f} | {row.rss_before_mib:,.0f} | "
            f"{row.peak_mib:,.0f} | {row.recall:.4f} | {row.duplicates} | {row.extra} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--top-m", type=int, default=10)
    parser.add_argument("--min-score", type=float, default=None)
    parser.add_argument("--model", default="default")
    parser.add_argument("--pooling", default="mean", choices=["pooler", "cls", "mean"])
    parser.add_argument("--indexes", nargs="+", default=list(INDEXES), choices=list(INDEXES))
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep the collections here (reused by the next run when they hold the documents)",
    )
    args = parser.parse_args()
    if not os.path.exists("/proc/self/clear_refs"):
        raise SystemExit("this benchmark reads peak memory from /proc (Linux only)")
    print_markdown(run(args), args)


if __name__ == "__main__":
    main()
