"""What the Ray front-end tests share with their fixtures (``tests/scaleout/ray/conftest.py``):
the replica count of ``ray_front`` and the type of a front-end."""

from __future__ import annotations

from dataclasses import dataclass

from simsearch.client import Client
from simsearch.server import RunningServer

__all__ = ["REPLICAS", "Front"]

REPLICAS = 2


@dataclass(frozen=True)
class Front:
    """A running front-end, a client to it, and (Ray only) its Serve application."""

    server: RunningServer
    client: Client
    app: str = ""
