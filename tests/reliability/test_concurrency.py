"""Concurrency: searches run while upserts and deletes run, on an exact and an HNSW collection.

Two writers upsert new documents (ids never reused) and delete some of their own; three searchers
search by text and by vector with random k, and one reader describes, lists and gets documents.
The server runs with ``--checkpoint-every 16``, so snapshots and HNSW compactions happen during
the searches. Every call must succeed; a search sent after a delete was acknowledged must never
return the deleted id, nor may a Get find it; hits are distinct and sorted by score. At the end
the server is still up and holds exactly the acknowledged documents (``checks``).
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from simsearch.client import Client
from simsearch.errors import NotFoundError
from support.tiny_bert import ENGLISH_WORDS

from .checks import Expected, verify_collection

DURATION_S = 8.0
COLLECTIONS = {"flat": "flat", "ann": "HNSW32"}


class Shared:
    """What the threads share: acknowledged documents, delete acknowledgements, counters."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.expected = {
            name: Expected(name, exact=kind == "flat") for name, kind in COLLECTIONS.items()
        }
        self.deleted_at: dict[tuple[str, str], float] = {}
        self.counts = {"upserts": 0, "deletes": 0, "searches": 0, "gets": 0, "hits_checked": 0}
        self.errors: list[str] = []
        self.stop = threading.Event()

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] += n


def _text(rng: random.Random, serial: str) -> str:
    return " ".join(rng.choices(ENGLISH_WORDS, k=rng.randint(2, 10))) + f" {serial}"


def writer(client: Client, shared: Shared, rng: random.Random, who: int) -> None:
    mine: dict[str, list[str]] = {name: [] for name in COLLECTIONS}
    for serial in range(10**9):
        if shared.stop.is_set():
            return
        name = rng.choice(sorted(COLLECTIONS))
        docs = [
            {
                "id": f"w{who}-{serial}-{j}",
                "text": _text(rng, f"{who} {serial} {j}"),
                "metadata": {"who": who, "serial": serial},
            }
            for j in range(rng.randint(1, 4))
        ]
        client.upsert(name, docs)
        with shared.lock:
            for doc in docs:
                shared.expected[name].docs[doc["id"]] = (doc["text"], doc["metadata"])
        mine[name] += [doc["id"] for doc in docs]
        shared.count("upserts")
        if rng.random() < 0.5 and len(mine[name]) > 2:
            gone = [
                mine[name].pop(rng.randrange(len(mine[name]))) for _ in range(rng.randint(1, 2))
            ]
            assert client.delete(name, gone) == len(gone)
            acknowledged = time.monotonic()
            with shared.lock:
                for doc_id in gone:
                    shared.deleted_at[(name, doc_id)] = acknowledged
                    del shared.expected[name].docs[doc_id]
            shared.count("deletes")


def searcher(client: Client, shared: Shared, rng: random.Random, who: int) -> None:
    while not shared.stop.is_set():
        name, k = rng.choice(sorted(COLLECTIONS)), rng.randint(1, 50)
        if rng.random() < 0.5:
            queries: Any = [_text(rng, "q") for _ in range(rng.randint(1, 3))]
        else:
            queries = np.random.default_rng(rng.randrange(2**32)).standard_normal((2, 32))
        sent = time.monotonic()
        results = client.search(name, queries, k=k)
        with shared.lock:
            deleted = {
                doc_id: at for (coll, doc_id), at in shared.deleted_at.items() if coll == name
            }
        for hits in results:
            ids = [hit.id for hit in hits]
            assert len(ids) == len(set(ids)) and len(ids) <= k, ids
            assert all(a.score >= b.score - 1e-6 for a, b in itertools.pairwise(hits)), hits
            stale = [doc_id for doc_id in ids if deleted.get(doc_id, sent) < sent]
            assert not stale, f"{name}: deleted ids {stale} returned by a later search"
            shared.count("hits_checked", len(ids))
        shared.count("searches")


def reader(client: Client, shared: Shared, rng: random.Random, who: int) -> None:
    while not shared.stop.is_set():
        assert sorted(info.spec.name for info in client.list_collections()) == sorted(COLLECTIONS)
        name = rng.choice(sorted(COLLECTIONS))
        client.describe_collection(name)
        with shared.lock:
            deleted = [doc_id for (coll, doc_id) in shared.deleted_at if coll == name]
        if deleted:
            doc_id = rng.choice(deleted)
            try:
                client.get(name, [doc_id])
                raise AssertionError(
                    f"{name}: Get found {doc_id} after its delete was acknowledged"
                )
            except NotFoundError:
                pass
        shared.count("gets")


def _run(role: Callable[..., None], address: str, shared: Shared, seed: int, who: int) -> None:
    try:
        with Client(address, timeout=30.0) as client:
            role(client, shared, random.Random(seed * 100 + who), who)
    except BaseException as exc:
        shared.errors.append(f"{role.__name__} {who}: {exc!r}")
        shared.stop.set()


def test_searches_during_upserts_and_deletes(
    start_server, tmp_path: Path, seed: int, figures
) -> None:
    data = tmp_path / "data"
    server = start_server(data, "--checkpoint-every", "16")
    shared = Shared()
    with Client(server.address) as client:
        for name, kind in COLLECTIONS.items():
            client.create_collection(name, index=kind)
    roles = [(writer, 0), (writer, 1), (searcher, 2), (searcher, 3), (searcher, 4), (reader, 5)]
    threads = [
        threading.Thread(target=_run, args=(role, server.address, shared, seed, who))
        for role, who in roles
    ]
    for thread in threads:
        thread.start()
    shared.stop.wait(DURATION_S)
    shared.stop.set()
    for thread in threads:
        thread.join(timeout=60.0)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    assert not shared.errors, shared.errors
    assert server.poll() is None, "the server died"
    log = server.log()
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]
    with Client(server.address) as client:
        ids = sum(verify_collection(client, data, shared.expected[name]) for name in COLLECTIONS)
    figures.update(
        shared.counts,
        seconds=DURATION_S,
        ids_checked_at_end=ids,
        deletes_acknowledged=len(shared.deleted_at),
    )
    assert shared.counts["searches"] > 50 and shared.counts["deletes"] > 10, shared.counts
