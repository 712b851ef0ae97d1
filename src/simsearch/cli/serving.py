"""The server half of ``simsearch serve``: bind the port, load the model, serve until stopped.

Imported only when the command runs (it imports torch, faiss and grpc's server). The port is
bound before the model loads, so a port in use fails at once. A failure to start is logged as
one line, without a traceback, and the exit code is 1.
"""

from __future__ import annotations

import logging
import sys
from contextlib import AbstractContextManager, nullcontext

from simsearch.config import ServerConfig
from simsearch.errors import SimsearchError
from simsearch.server.app import bind_server, build_engine, lock_data_dir, serve
from simsearch.server.metrics import Metrics
from simsearch.server.security import load_security

__all__ = ["run"]

logger = logging.getLogger("simsearch.server")


def run(config: ServerConfig) -> int:
    """Serve with ``config`` until stopped; returns the exit code."""
    try:
        security = load_security(config)  # key and TLS files: fail before the slow model load
    except ValueError as exc:
        print(f"simsearch serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        # Milvus is shared by every front-end: only the data directory of FAISS collections is
        # one server's alone.
        lock: AbstractContextManager[object] = (
            lock_data_dir(config.data_dir) if config.store == "faiss" else nullcontext()
        )
        metrics = Metrics()
        bound = bind_server(config, security=security, metrics=metrics)
        logger.info("loading model %s", config.model)
        engine = build_engine(config, metrics)
        running = bound.start(engine)
    except (OSError, SimsearchError, RuntimeError) as exc:
        logger.error("cannot start: %s", exc)
        return 1
    logger.info("access: %s", security.describe())
    model = engine.model
    logger.info(
        "model %s (fingerprint %s, dimension %d, max length %d) on %s; collections in %s",
        model.name,
        model.fingerprint,
        model.hidden_size,
        model.max_length,
        model.device if config.encoder == "local" else f"{model.replicas} Ray Serve replica(s)",
        config.data_dir if config.store == "faiss" else f"Milvus at {config.milvus_uri}",
    )
    with lock:
        serve(running)
    return 0
