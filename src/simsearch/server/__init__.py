"""The gRPC adapter: servicer, interceptors and app wiring (the codec is ``simsearch.wire``, the
``simsearch serve`` command ``simsearch.cli``)."""

from simsearch.server.app import RunningServer, build_engine, create_server, serve
from simsearch.server.servicer import SimSearchServicer

__all__ = ["RunningServer", "SimSearchServicer", "build_engine", "create_server", "serve"]
