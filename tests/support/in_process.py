"""A real server in the test process, on 127.0.0.1 port 0: ``serve_model`` loads a model as
``simsearch serve`` does; ``serve_in_process`` reuses an encoder the test already has (the
session's tiny BERT), without a model load per server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from simsearch.config import ServerConfig
from simsearch.engine import Engine
from simsearch.engine.ports import Encoder
from simsearch.index import FaissCatalog
from simsearch.server import RunningServer, build_engine, create_server

__all__ = ["serve_in_process", "serve_model"]


def serve_model(model_dir: Path, data_dir: Path) -> RunningServer:
    """A SERVING server that loaded ``model_dir`` (through the session's model cache, see
    tests/conftest.py) and opened ``data_dir``, as at a restart."""
    cache = os.environ.get("SIMSEARCH_MODEL_CACHE_DIR")
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        model=str(model_dir),
        data_dir=data_dir,
        model_cache_dir=Path(cache) if cache else None,
    )
    running = create_server(config, build_engine(config))
    running.set_serving(True)
    return running


def serve_in_process(
    encoder: Encoder, data_dir: Path, *, serving: bool = True, **settings: Any
) -> RunningServer:
    """A started server over ``data_dir``; ``settings`` are ``ServerConfig`` fields (``limits``
    included). ``serving``: mark it SERVING (False: as during start-up). Stop it with
    ``running.stop(grace=...)``."""
    config = ServerConfig(**{"host": "127.0.0.1", "port": 0, "data_dir": data_dir, **settings})
    engine = Engine(encoder, FaissCatalog(data_dir), config.limits)
    running = create_server(config, engine)
    running.set_serving(serving)
    return running
