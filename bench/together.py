"""Run client threads released together and time them: light, so a client process can import
it without the server (``common`` imports torch and the server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = ["encode_in_threads", "in_threads"]


def in_threads(count: int, work: Callable[[int], None]) -> float:
    """Run ``work(t)`` for t in 0..count-1, each in its own thread, all released at once;
    seconds from the release until the last one ends (thread start-up is not counted)."""
    start_line = threading.Barrier(count + 1)

    def run(t: int) -> None:
        start_line.wait()
        work(t)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(count)]
    for thread in threads:
        thread.start()
    start_line.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def encode_in_threads(
    address: str, sentences: list[str], clients: int, batch: int, pooling: str = "pooler"
) -> tuple[float, npt.NDArray[np.float32]]:
    """In a client process: ``clients`` threads, each its own channel, share the sentences
    (thread t takes batches t, t + clients, ...); returns seconds and the vectors in order."""
    from simsearch.client import Client

    batches = [(i, sentences[i : i + batch]) for i in range(0, len(sentences), batch)]
    connections = [Client(address, timeout=600) for _ in range(clients)]
    for connection in connections:  # connect and warm up before the clock starts
        warm = connection.encode(sentences[:batch], pooling=pooling).embeddings
    vectors = np.zeros((len(sentences), warm.shape[1]), dtype=np.float32)

    def work(t: int) -> None:
        for first, texts in batches[t::clients]:
            embeddings = connections[t].encode(texts, pooling=pooling).embeddings
            vectors[first : first + len(texts)] = embeddings

    seconds = in_threads(clients, work)
    for connection in connections:
        connection.close()
    return seconds, vectors
