"""The OpenVINO engine's converted-model cache: reused, private, invalidated when the
checkpoint changes, and a damaged entry is rebuilt, never served."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simsearch.encoder import BertEncoder, load_encoder, openvino_convert
from simsearch.encoder.model_cache import MANIFEST, ModelCache
from simsearch.types import Pooling
from support.reference import Reference, assert_close
from support.tiny_bert import change_tiny_bert_weights

TEXTS = ["the cat sits on the mat", "hello", "我喜欢北京"]


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per conversion of a torch model to OpenVINO while the test runs."""
    calls: list[int] = []
    original = openvino_convert.convert_to_openvino

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(openvino_convert, "convert_to_openvino", counted)
    return calls


@pytest.fixture
def model_dir(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model (these tests change it)."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def _load(model_dir: Path, cache_dir: Path) -> BertEncoder:
    return load_encoder(str(model_dir), engine="openvino", dtype="float32", cache_dir=cache_dir)


def _entries(cache_dir: Path) -> list[Path]:
    return sorted(p for p in (cache_dir / "openvino").iterdir() if not p.name.startswith("."))


def _mean(encoder: BertEncoder) -> np.ndarray:
    try:
        return encoder.encode(TEXTS, Pooling.MEAN, normalize=False, truncate=False).embeddings
    finally:
        encoder.close()


def _reference_means(model_dir: Path) -> np.ndarray:
    from transformers import AutoTokenizer, BertModel

    reference = Reference(
        AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True),
        BertModel.from_pretrained(str(model_dir), local_files_only=True),
    )
    return np.stack([reference.mean(text) for text in TEXTS])


@pytest.fixture
def umask_zero() -> Iterator[None]:
    """A umask that would leave new files readable by all: the cache must not rely on it."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_second_load_reuses_the_cache(
    model_dir: Path, tmp_path: Path, conversions: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    cache_dir = tmp_path / "data" / "models"
    first = _mean(_load(model_dir, cache_dir))
    assert len(conversions) == 1
    with caplog.at_level(logging.INFO, logger="simsearch.encoder.openvino_convert"):
        second = _mean(_load(model_dir, cache_dir))
    assert len(conversions) == 1
    assert "loaded from the cache" in caplog.text
    assert_close(second, first, atol=0)
    assert len(_entries(cache_dir)) == 1


def test_cache_files_are_private(model_dir: Path, tmp_path: Path, umask_zero: None) -> None:
    cache_dir = tmp_path / "data" / "models"
    _load(model_dir, cache_dir).close()
    (entry,) = _entries(cache_dir)
    for directory in (tmp_path / "data", cache_dir, cache_dir / "openvino", entry):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    names = sorted(path.name for path in entry.iterdir())
    assert names == [MANIFEST, "model.bin", "model.xml"]
    for path in entry.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_changed_checkpoint_gets_a_new_entry(
    model_dir: Path, tmp_path: Path, conversions: list[int]
) -> None:
    cache_dir = tmp_path / "models"
    before = _load(model_dir, cache_dir)
    old_fingerprint = before.info.fingerprint
    old = _mean(before)
    change_tiny_bert_weights(model_dir)
    after = _load(model_dir, cache_dir)
    assert after.info.fingerprint != old_fingerprint
    new = _mean(after)
    assert len(conversions) == 2
    assert len(_entries(cache_dir)) == 2
    assert not np.allclose(new, old, atol=1e-3)
    assert_close(new, _reference_means(model_dir), atol=1e-4)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("model.bin", _truncate),
        ("model.bin", _flip_byte),
        ("model.xml", _flip_byte),
        ("model.xml", Path.unlink),
        (MANIFEST, _truncate),
    ],
)
def test_a_damaged_entry_is_rebuilt_not_served(
    model_dir: Path,
    tmp_path: Path,
    conversions: list[int],
    caplog: pytest.LogCaptureFixture,
    name: str,
    damage: Any,
) -> None:
    cache_dir = tmp_path / "models"
    _load(model_dir, cache_dir).close()
    (entry,) = _entries(cache_dir)
    damage(entry / name)
    with caplog.at_level(logging.WARNING, logger="simsearch.encoder.model_cache"):
        rebuilt = _mean(_load(model_dir, cache_dir))
    assert "is damaged" in caplog.text
    assert len(conversions) == 2
    assert_close(rebuilt, _reference_means(model_dir), atol=1e-4)
    # The rebuilt entry is sound: the next load converts nothing.
    _load(model_dir, cache_dir).close()
    assert len(conversions) == 2
    assert [p.name for p in _entries(cache_dir)] == [entry.name]


def test_an_unwritable_cache_still_loads(
    model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "models"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="simsearch.encoder.model_cache"):
        means = _mean(_load(model_dir, blocker))
    assert "not cached" in caplog.text
    assert_close(means, _reference_means(model_dir), atol=1e-4)


def test_no_cache_dir_converts_every_time(model_dir: Path, conversions: list[int]) -> None:
    for _ in range(2):
        load_encoder(str(model_dir), engine="openvino").close()
    assert len(conversions) == 2


# -- the cache on its own -------------------------------------------------------------------------


def test_cache_round_trip_and_race(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path / "cache")
    assert cache.load("k1") is None
    stored = cache.store("k1", lambda d: (d / "a.bin").write_bytes(b"abc"))
    assert stored == tmp_path / "cache" / "k1"
    assert cache.load("k1") == {"a.bin": b"abc"}
    # Another process stored the key first: its entry stays, ours is dropped.
    assert cache.store("k1", lambda d: (d / "a.bin").write_bytes(b"other")) == stored
    assert cache.load("k1") == {"a.bin": b"abc"}
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["k1"]


def test_cache_refuses_odd_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid model cache key"):
        ModelCache(tmp_path).load("../escape")


def test_an_extra_file_makes_an_entry_damaged(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path)
    cache.store("k", lambda d: (d / "a.bin").write_bytes(b"abc"))
    (tmp_path / "k" / "b.bin").write_bytes(b"")
    assert cache.load("k") is None
    assert not (tmp_path / "k").exists()
