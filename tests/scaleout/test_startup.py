"""Start-up with a scale-out setting that cannot work: one clear line and exit status 1, no
traceback, before anything listens."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from simsearch.cli import main as cli_main
from simsearch.config import ServerConfig
from simsearch.errors import FailedPreconditionError
from simsearch.server import build_engine
from support.ports import free_port


@pytest.mark.parametrize(
    ("module", "settings", "extra"),
    [
        ("simsearch.encoder.ray_serve", {"encoder": "ray"}, "simsearch[ray]"),
        ("simsearch.index.milvus", {"store": "milvus", "milvus_uri": "m.db"}, "simsearch[milvus]"),
    ],
)
def test_a_missing_extra_is_named(
    module: str,
    settings: dict[str, str],
    extra: str,
    tiny_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if the extra were not installed
    config = ServerConfig(model=str(tiny_model_dir), data_dir=tmp_path, engine="torch", **settings)  # type: ignore[arg-type]
    with pytest.raises(FailedPreconditionError, match=re.escape(f"pip install '{extra}'")):
        build_engine(config).close()


def test_an_unreachable_milvus_stops_the_start_with_one_line(
    tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed = free_port()  # nothing listens there
    argv = ["--model", str(tiny_model_dir), "--data-dir", str(tmp_path), "--engine", "torch"]
    argv += ["--port", "0", "--store", "milvus", "--milvus-uri", f"http://127.0.0.1:{closed}"]
    assert cli_main(["serve", *argv]) == 1
    [line] = [r for r in caplog.records if r.getMessage().startswith("cannot start")]
    assert "Milvus" in line.getMessage() and line.exc_info is None
