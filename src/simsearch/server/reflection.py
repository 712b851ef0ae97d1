"""Server reflection that also resolves RPC methods, so ``grpcurl describe`` works on them.

Reflection clients ask ``file_containing_symbol`` for a method's full name
(``grpcurl describe simsearch.v1.SimSearch.Search``). grpcio-reflection answers every symbol
with ``DescriptorPool.FindFileContainingSymbol``, and protobuf's Python pool knows services,
messages, enums and fields there, but not methods: "Symbol not found". ``MethodSymbols`` is
the pool with that one lookup completed (a method is in its service's file).
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import descriptor, descriptor_pool
from grpc_reflection.v1alpha import reflection

__all__ = ["SERVICE_NAME", "MethodSymbols", "enable_reflection"]

SERVICE_NAME: str = reflection.SERVICE_NAME


class MethodSymbols:
    """A descriptor pool whose ``FindFileContainingSymbol`` also finds ``Service.Method``;
    every other lookup is the wrapped pool's."""

    def __init__(self, pool: descriptor_pool.DescriptorPool) -> None:
        self._pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def FindFileContainingSymbol(self, symbol: str) -> descriptor.FileDescriptor:  # noqa: N802
        """The file defining ``symbol``; KeyError if there is none (reflection's "not found")."""
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            service_name, _, method = symbol.rpartition(".")
            if not service_name:
                raise
            service = self._pool.FindServiceByName(service_name)  # KeyError if none
            if method not in service.methods_by_name:
                raise
            return service.file


def enable_reflection(server: grpc.Server, service_names: tuple[str, ...]) -> None:
    """Register server reflection for ``service_names`` (its own name included by the caller)."""
    pool = MethodSymbols(descriptor_pool.Default())
    reflection.enable_server_reflection(service_names, server, pool=pool)
