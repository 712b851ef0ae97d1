"""``simsearch serve``: parse settings, load the model, serve until stopped."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

from simsearch.config import add_arguments, config_from_args
from simsearch.errors import SimsearchError
from simsearch.server.app import build_engine, create_server, lock_data_dir, serve
from simsearch.server.metrics import Metrics
from simsearch.server.security import load_security

__all__ = ["main"]

logger = logging.getLogger("simsearch.server")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simsearch serve",
        description="Run the simsearch gRPC server. Every flag has an environment twin.",
        allow_abbrev=False,  # else `--api-keys KEY` would be taken as --api-keys-file
    )
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
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
        logger.info("loading model %s", config.model)
        metrics = Metrics()
        engine = build_engine(config, metrics)
        running = create_server(config, engine, security=security, metrics=metrics)
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
