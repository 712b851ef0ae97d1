"""``MinedPairs``: the ``MinePairs`` stream as an iterator of pairs, with its progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import grpc

from simsearch.client.rpc import error_from_rpc
from simsearch.types import ScoredPair
from simsearch.v1 import simsearch_pb2 as pb
from simsearch.wire.mining import mined_from_wire

__all__ = ["MinedPairs"]


class _Stream(Protocol):
    """What grpc returns for a response stream: its messages, and a way to cancel it."""

    def __iter__(self) -> Iterator[pb.MinePairsResponse]: ...

    def cancel(self) -> bool: ...


Open = Callable[[], _Stream]


class MinedPairs:
    """The pairs of a mining or pairing run, in the server's stable order (by ``a``, then
    descending score, then ``b``), as they arrive.

    Iterate it for ``ScoredPair`` objects, or call :meth:`chunks` for ``(pairs, done,
    total)`` per message, progress-only messages included (a progress bar's steps).
    ``done`` and ``total``: documents of the collection gone through so far, of its count at
    the start. The stream opens when the first item is taken and is cancelled by
    :meth:`close` (or a ``with`` block's end); a failed call raises its ``simsearch.errors``
    class.
    """

    def __init__(self, open_stream: Open, address: str) -> None:
        self._open = open_stream
        self._address = address
        self._stream: _Stream | None = None
        self.done = 0
        self.total = 0

    def __iter__(self) -> Iterator[ScoredPair]:
        for pairs, _, _ in self.chunks():
            yield from pairs

    def chunks(self) -> Iterator[tuple[list[ScoredPair], int, int]]:
        """``(pairs, documents_done, documents_total)`` per message (pairs may be empty)."""
        if self._stream is not None:
            raise RuntimeError("the pairs of a MinedPairs can be read once")
        self._stream = self._open()
        try:
            for message in self._stream:
                pairs, self.done, self.total = mined_from_wire(message)
                yield pairs, self.done, self.total
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, self._address) from None
        finally:
            self.close()

    def close(self) -> None:
        """Cancel the stream (nothing more is mined for it). Calling it again does nothing."""
        if self._stream is not None:
            self._stream.cancel()

    def __enter__(self) -> MinedPairs:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
