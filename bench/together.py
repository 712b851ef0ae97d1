"""Run client threads released together and time them: light, so a client process can import
it without the server (``common`` imports torch and the server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["in_threads"]


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
