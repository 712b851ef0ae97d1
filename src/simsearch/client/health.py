"""Wait until a server is ready: the standard gRPC health service's Watch stream.

The server sets its health to SERVING once the model is loaded and every collection is open,
and to NOT_SERVING when it starts to stop. ``wait_until_serving`` opens one Watch stream
(``wait_for_ready``: a server that does not accept connections yet is waited for too) and
returns at the first SERVING the server pushes, so nothing polls. A stream that breaks off (the
server restarted) is opened again until the time is up.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from simsearch.client.rpc import error_from_rpc
from simsearch.errors import DeadlineExceededError
from simsearch.v1 import simsearch_pb2

__all__ = ["CHECK_EVERY_S", "wait_until_serving"]

SERVICE = simsearch_pb2.DESCRIPTOR.services_by_name["SimSearch"].full_name
CHECK_EVERY_S = 0.5  # how often ``check`` runs while waiting
_REOPEN_PAUSE_S = 0.05  # after a stream broke off: never a busy loop
# A stream that breaks off this way is opened again: the server is stopping or restarting.
_TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
_SERVING = health_pb2.HealthCheckResponse.SERVING


def wait_until_serving(
    channel: grpc.Channel,
    address: str,
    timeout: float,
    check: Callable[[], object] | None = None,
) -> None:
    """Return once the health of the SimSearch service at ``address`` is SERVING.

    Raises ``DeadlineExceededError`` after ``timeout`` seconds, saying the last status seen.
    ``check`` runs every ``CHECK_EVERY_S`` seconds while waiting; what it raises ends the wait
    (a caller that started the server checks that its process still runs).
    """
    health = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service=SERVICE)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        if check is not None:
            check()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceededError(
                f"the server at {address} was not serving after {timeout:g} s ({last})"
            )
        window = remaining if check is None else min(remaining, CHECK_EVERY_S)
        try:
            for reply in health.Watch(request, timeout=window, wait_for_ready=True):
                if reply.status == _SERVING:
                    return
                last = f"health: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
        except grpc.RpcError as exc:
            if not isinstance(exc, grpc.Call):  # every RpcError grpc raises for a call is one
                raise error_from_rpc(exc, address) from None
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                continue
            if exc.code() not in _TRANSIENT:
                raise error_from_rpc(exc, address) from None
            last = f"{exc.code().name}: {exc.details()}"
        time.sleep(_REOPEN_PAUSE_S)
