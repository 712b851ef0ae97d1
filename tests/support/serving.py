"""Wait for a server process the test started: ``Client.wait_until_serving``, stopped early by
``check`` when the process has exited, over a channel that reconnects quickly.

A channel that keeps failing to connect (the process is still importing, or loading the model
before it listens) backs off exponentially, up to 2 minutes by default, and would then still be
waiting for its next attempt long after the server started serving; tests start servers often.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from simsearch.client import Client

__all__ = ["FAST_RECONNECT", "wait_serving"]

# No change to the connect timeout (``grpc.min_reconnect_backoff_ms``): a server that listens
# before it starts accepts the connection only then, and a short timeout would give up on it.
FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 20),
    ("grpc.max_reconnect_backoff_ms", 100),
]


def wait_serving(address: str, timeout: float, check: Callable[[], object]) -> None:
    """Return once the server at ``address`` is SERVING; ``check`` runs every half second and
    raises to stop waiting; ``DeadlineExceededError`` after ``timeout`` seconds."""
    with (
        grpc.insecure_channel(address, options=FAST_RECONNECT) as channel,
        Client(address, channel=channel) as client,
    ):
        client.wait_until_serving(timeout, check=check)
