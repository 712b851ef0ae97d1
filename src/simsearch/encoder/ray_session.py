"""This process's connection to a Ray cluster, shared by every Ray encoder in it.

Ray allows one connection per process (``ray.init``), while a process may hold several Ray
encoders (two front-ends in one test process, or a reload). :func:`attach` connects once, to an
existing cluster (``address`` given) or to a local one started for this process (``address``
empty: bound to 127.0.0.1, no dashboard, no usage reporting); each attachment is released with
:func:`detach`, and the last one out shuts the local cluster down. A connection that someone
else made (``ray.init`` called before us) is used as it is and never shut down here.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass

from simsearch.errors import UnavailableError

__all__ = ["RaySession", "attach", "detach"]

logger = logging.getLogger(__name__)

_LOCAL = "local"  # the address of a cluster this process started


@dataclass(frozen=True)
class RaySession:
    """One attachment: ``address`` as asked ("" for a local cluster), ``local`` when this
    process runs the cluster itself (Serve then stops with it)."""

    address: str
    local: bool


class _Connection:
    """Who connected this process to Ray, to what, and how many encoders use it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.address: str | None = None  # None: not connected by us
        self.users = 0


_connection = _Connection()


def attach(address: str, *, cpus: float = 0) -> RaySession:
    """Connect this process to the cluster at ``address`` ("" starts a local one, offering
    Ray the machine's CPUs, or ``cpus`` when more: the replicas asked for must fit) or join
    the connection already made. ``UnavailableError`` when the cluster cannot be reached, or
    when this process is connected to another cluster already."""
    import ray

    wanted = address or _LOCAL
    with _connection.lock:
        if _connection.users and _connection.address != wanted:
            raise UnavailableError(
                f"this process is connected to the Ray cluster {_connection.address!r} "
                f"already and cannot also join {wanted!r}: one Ray cluster per process"
            )
        if not _connection.users and not ray.is_initialized():
            _init(address, cpus)
            _connection.address = wanted
        elif not _connection.users:  # someone else's connection: use it, never stop it
            _connection.address = None
        _connection.users += 1
        return RaySession(address, local=_connection.address == _LOCAL)


def detach(session: RaySession) -> None:
    """Release ``session``; the last release of a local cluster shuts Serve and Ray down."""
    import ray
    from ray import serve

    with _connection.lock:
        _connection.users -= 1
        if _connection.users or _connection.address is None:
            return
        try:
            if _connection.address == _LOCAL:
                serve.shutdown()  # type: ignore[no-untyped-call]
        finally:
            _connection.address = None
            ray.shutdown()


def _init(address: str, cpus: float) -> None:
    import ray

    try:
        if address:
            _use_token_if_available()
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
            return
        # Read by the processes ray.init starts: no usage report leaves the machine.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            num_cpus=max(os.cpu_count() or 1, math.ceil(cpus)),
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray cluster"
        raise UnavailableError(f"could not connect to {where}: {exc}") from exc


def _use_token_if_available() -> None:
    """Send the cluster's token when one is at hand (``RAY_AUTH_TOKEN``,
    ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``), as the ``ray`` CLI does: a cluster
    started with ``ray start`` requires it by default, yet ``ray.init(address=...)`` sends
    it only when ``RAY_AUTH_MODE=token`` was set before Ray was imported. An explicit
    ``RAY_AUTH_MODE`` is respected."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # another Ray version: its own defaults apply
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
