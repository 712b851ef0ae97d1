"""The committed gencode is what ``scripts/gen_proto.py`` produces; the curated ``__all__`` lists.

The freshness test runs the pinned generators (grpcio-tools, mypy-protobuf) into a temporary
directory and compares bytes, so a proto edit without regeneration fails here.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "src" / "simsearch" / "v1"
HINT = "the generated code is stale: run `python scripts/gen_proto.py`"


def _gen_proto() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.name != "__init__.py"
    }


def test_generated_code_is_fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # protoc finds the mypy plugins (protoc-gen-mypy, protoc-gen-mypy_grpc) on PATH.
    scripts = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", scripts + os.pathsep + os.environ.get("PATH", ""))
    _gen_proto().generate(tmp_path)
    fresh = _files(tmp_path / "simsearch" / "v1")
    committed = _files(GENERATED)
    assert fresh, "scripts/gen_proto.py generated nothing"
    missing = sorted(fresh.keys() - committed.keys())
    extra = sorted(committed.keys() - fresh.keys())
    assert not missing, f"{HINT} (missing from src/simsearch/v1: {missing})"
    assert not extra, f"{HINT} (not generated any more: {extra})"
    stale = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not stale, f"{HINT} (differs: {stale})"


PACKAGES = [
    "simsearch",
    "simsearch.types",
    "simsearch.errors",
    "simsearch.config",
    "simsearch.engine",
    "simsearch.wire",
    "simsearch.index",
    "simsearch.encoder",  # imports torch: imported only by this test
]


@pytest.mark.parametrize("name", PACKAGES)
def test_exports_are_sorted_and_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported), f"{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    missing = [item for item in exported if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
