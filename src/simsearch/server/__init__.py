"""The gRPC adapter: servicer, conversions, status mapping, app wiring and ``simsearch serve``."""

from simsearch.server.app import RunningServer, build_engine, create_server, serve
from simsearch.server.servicer import SimSearchServicer

__all__ = ["RunningServer", "SimSearchServicer", "build_engine", "create_server", "serve"]
