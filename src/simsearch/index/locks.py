"""A reader/writer lock: many readers at once, or one writer alone.

A collection's searches and reads share it; writes (upserts, deletes, training, compaction,
checkpoints, close) hold it alone, so a reader never sees half a write: FAISS allows concurrent
``search`` calls on an index nobody modifies, never an ``add`` or ``remove_ids`` during one.

Writers come first: once a writer waits, new readers wait behind it, so a steady stream of
searches cannot starve an upsert (readers already in finish first). Not reentrant: a thread
holding it must not take it again, in either mode (a reader would deadlock behind a waiting
writer).

``shared=False`` makes readers exclusive too: every holder is alone, as with one plain lock
(the behaviour before reads were concurrent, kept as a benchmark reference).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ReadWriteLock"]


class ReadWriteLock:
    """Shared reads, exclusive writes, writers first (see the module docstring)."""

    def __init__(self, *, shared: bool = True) -> None:
        self.shared = shared
        self._changed = threading.Condition(threading.Lock())
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Held with other readers, never with a writer."""
        if not self.shared:
            with self.writing():
                yield
            return
        with self._changed:
            self._changed.wait_for(lambda: not self._writing and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._changed:
                self._readers -= 1
                if not self._readers:
                    self._changed.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Held alone."""
        with self._changed:
            self._writers_waiting += 1
            try:
                self._changed.wait_for(lambda: not self._writing and not self._readers)
            finally:
                self._writers_waiting -= 1
                self._changed.notify_all()  # readers held back by this writer, if it gave up
            self._writing = True
        try:
            yield
        finally:
            with self._changed:
                self._writing = False
                self._changed.notify_all()
