"""One encoder replica of the Ray Serve deployment: the code that runs on the cluster.

Each replica loads the ordinary encoder (``load_encoder(**options.as_kwargs())``, with its own
batcher, which merges the requests the replica has in flight) and serves one request per batch
of texts sent by a front-end (``encoder.ray_serve``). A request runs the encoder in a worker
thread with ``simsearch.callers.caller_gone`` set there, so texts of a caller that has gone are
dropped by the batcher before the model: the caller has gone when the front cancels the request
(Serve cancels this coroutine) or when the request's own time is up.

Errors simsearch raises on purpose (too-long input, a full queue ...) come back as values in a
:class:`Reply`, not raised: the front re-raises the same error, and Ray logs no traceback for
what is the caller's mistake. Anything else is raised and reaches the front as a Ray task
error (a bug, logged on the replica).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from simsearch.callers import caller_gone
from simsearch.encoder.options import EncoderOptions
from simsearch.errors import SimsearchError
from simsearch.types import ModelInfo, Pooling, TextInput

__all__ = ["EncoderReplica", "ReplicaDescription", "Reply"]

T = TypeVar("T")


@dataclass(frozen=True)
class Reply:
    """What a replica method returns: ``value``, or the simsearch ``error`` it raised."""

    value: Any = None
    error: SimsearchError | None = None


@dataclass(frozen=True)
class ReplicaDescription:
    """Who answered: the options the deployment was made with, the model's info (local
    fields, as the replica sees it) and the replica's process id."""

    options: EncoderOptions
    info: ModelInfo
    pid: int


class EncoderReplica:
    """The deployment's class; Serve constructs it once per replica with the options."""

    def __init__(self, options: EncoderOptions) -> None:
        from simsearch.encoder.bert import load_encoder

        self._options = options
        self._encoder = load_encoder(**options.as_kwargs())

    def __del__(self) -> None:  # Serve's graceful shutdown of a replica
        encoder = getattr(self, "_encoder", None)
        if encoder is not None:
            encoder.close()

    async def describe(self) -> Reply:
        return Reply(ReplicaDescription(self._options, self._encoder.info, os.getpid()))

    async def encode(
        self,
        inputs: Sequence[TextInput],
        pooling: Pooling,
        normalize: bool,
        truncate: bool,
        timeout_s: float,
    ) -> Reply:
        return await _run(
            lambda: self._encoder.encode(inputs, pooling, normalize=normalize, truncate=truncate),
            timeout_s,
        )

    async def encode_tokens(
        self, inputs: Sequence[TextInput], truncate: bool, timeout_s: float
    ) -> Reply:
        return await _run(lambda: self._encoder.encode_tokens(inputs, truncate=truncate), timeout_s)

    async def encode_with_tokens(
        self, inputs: Sequence[TextInput], pooling: Pooling, truncate: bool, timeout_s: float
    ) -> Reply:
        return await _run(
            lambda: self._encoder.encode_with_tokens(inputs, pooling, truncate=truncate),
            timeout_s,
        )

    async def classify(
        self, inputs: Sequence[TextInput], truncate: bool, timeout_s: float
    ) -> Reply:
        return await _run(lambda: self._encoder.classify(inputs, truncate=truncate), timeout_s)


async def _run(call: Callable[[], T], timeout_s: float) -> Reply:
    """``call()`` in a worker thread, its caller gone once this coroutine is cancelled or
    ``timeout_s`` (measured here: clocks of two machines are not compared) has passed."""
    cancelled = threading.Event()
    expires = time.monotonic() + timeout_s

    def gone() -> bool:
        return cancelled.is_set() or time.monotonic() >= expires

    def work() -> Reply:
        token = caller_gone.set(gone)
        try:
            return Reply(call())
        except SimsearchError as exc:
            return Reply(error=exc)
        finally:
            caller_gone.reset(token)

    try:
        return await asyncio.to_thread(work)
    except asyncio.CancelledError:
        cancelled.set()  # the thread runs on; the batcher drops its texts if still queued
        raise
