"""Static int8 on the OpenVINO engine (opt-in through ``int8_calibration``): calibrated on the
user's texts, its own fingerprint per calibration set, cached like the float32 model.

Tolerance against torch float32 (``docs/engines.md``): on the tiny random model, cosine mean
>= 0.99 and min >= 0.95 per sentence and per token (measured: mean 0.998, min 0.983). Its
vectors move more than bfloat16's, so it never shares the float32 fingerprint.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simsearch.encoder import BertEncoder, ModelLoadError, load_encoder, openvino_convert
from simsearch.encoder.calibration import calibration_hash, read_calibration_texts
from simsearch.encoder.fingerprint import variant_fingerprint
from simsearch.types import FloatArray, Pooling, TextInput
from support.tiny_bert import ENGLISH_WORDS

pytest.importorskip("nncf")

INT8_MIN_MEAN_COSINE = 0.99
INT8_MIN_COSINE = 0.95


def _calibration_texts() -> list[str]:
    rng = np.random.default_rng(7)
    return [" ".join(rng.choice(ENGLISH_WORDS, size=int(rng.integers(3, 20)))) for _ in range(60)]


def _test_texts() -> list[TextInput]:
    rng = np.random.default_rng(11)
    texts: list[TextInput] = [" ".join(rng.choice(ENGLISH_WORDS, size=10)) for _ in range(30)]
    return [*texts, ("what is the weather today", "the sun is nice today"), "我喜欢北京"]


@pytest.fixture(scope="module")
def calibration_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("calibration") / "texts.txt"
    path.write_text("\n\n".join(_calibration_texts()) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data") / "models"


@pytest.fixture(scope="module")
def int8_encoder(
    tiny_model_dir: Path, calibration_file: Path, cache_dir: Path
) -> Iterator[BertEncoder]:
    encoder = load_encoder(
        str(tiny_model_dir),
        engine="openvino",
        dtype="float32",
        cache_dir=cache_dir,
        int8_calibration=calibration_file,
    )
    yield encoder
    encoder.close()


@pytest.fixture
def quantizations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = openvino_convert.quantize_static

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(openvino_convert, "quantize_static", counted)
    return calls


def _cosines(a: FloatArray, b: FloatArray) -> FloatArray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    result: FloatArray = (a * b).sum(axis=-1)
    return result


def _assert_int8_close(cosines: FloatArray) -> None:
    assert cosines.mean() >= INT8_MIN_MEAN_COSINE
    assert cosines.min() >= INT8_MIN_COSINE


def test_info_and_fingerprint(int8_encoder: BertEncoder, tiny_encoder: BertEncoder) -> None:
    info = int8_encoder.info
    assert (info.engine, info.precision) == ("openvino", "int8-static")
    expected = variant_fingerprint(
        tiny_encoder.info.fingerprint, "int8-static", calibration_hash(_calibration_texts())
    )
    assert info.fingerprint == expected != tiny_encoder.info.fingerprint


@pytest.mark.parametrize("pooling", list(Pooling))
def test_sentence_vectors_within_int8_tolerance(
    int8_encoder: BertEncoder, tiny_encoder: BertEncoder, pooling: Pooling
) -> None:
    texts = _test_texts()
    ours = int8_encoder.encode(texts, pooling, normalize=False, truncate=False).embeddings
    exact = tiny_encoder.encode(texts, pooling, normalize=False, truncate=False).embeddings
    _assert_int8_close(_cosines(ours, exact))


def test_token_vectors_within_int8_tolerance(
    int8_encoder: BertEncoder, tiny_encoder: BertEncoder
) -> None:
    texts = _test_texts()
    ours = int8_encoder.encode_tokens(texts, truncate=False)
    exact = tiny_encoder.encode_tokens(texts, truncate=False)
    pairs = zip(ours, exact, strict=True)
    _assert_int8_close(np.concatenate([_cosines(x.embeddings, y.embeddings) for x, y in pairs]))


def test_same_texts_as_jsonl_reuse_the_cached_model(
    int8_encoder: BertEncoder,
    tiny_model_dir: Path,
    cache_dir: Path,
    tmp_path: Path,
    quantizations: list[int],
) -> None:
    jsonl = tmp_path / "docs.jsonl"
    lines = [json.dumps({"id": str(i), "text": t}) for i, t in enumerate(_calibration_texts())]
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    again = load_encoder(
        str(tiny_model_dir), engine="openvino", cache_dir=cache_dir, int8_calibration=jsonl
    )
    try:
        assert again.info.fingerprint == int8_encoder.info.fingerprint
        assert quantizations == []
    finally:
        again.close()


def test_missing_nncf_is_a_clear_error(
    tiny_model_dir: Path, calibration_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "nncf", None)  # import nncf raises ImportError
    with pytest.raises(ModelLoadError, match=r"needs NNCF: pip install 'simsearch\[int8\]'"):
        load_encoder(str(tiny_model_dir), engine="openvino", int8_calibration=calibration_file)


def test_static_int8_is_refused_on_the_torch_engine(
    tiny_model_dir: Path, calibration_file: Path
) -> None:
    with pytest.raises(ModelLoadError, match="runs on the openvino engine"):
        load_encoder(str(tiny_model_dir), engine="torch", int8_calibration=calibration_file)


# -- reading calibration texts --------------------------------------------------------------------


def test_plain_text_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "texts.txt"
    path.write_bytes("\ufefffirst text\n\n  \nsecond text\r\nthird\n".encode())
    assert read_calibration_texts(path) == ["first text", "second text", "third"]


def test_jsonl_text_field(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "a", "text": "one"}\n\n{"text": "two", "metadata": {}}\n')
    assert read_calibration_texts(path) == ["one", "two"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "a", "text": "one"}\n{"id": "b"\n', r"docs.jsonl:2: not valid JSON"),
        ('{"id": "a", "text": ""}\n', r'docs.jsonl:1: expected an object with a non-empty "text"'),
        ('["a list"]\n', r"docs.jsonl:1: expected an object"),
        ("\n\n", "holds no text"),
    ],
)
def test_bad_jsonl_names_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text(content)
    with pytest.raises(ModelLoadError, match=message):
        read_calibration_texts(path)


def test_unreadable_or_binary_files_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot read the int8 calibration file"):
        read_calibration_texts(tmp_path / "missing.txt")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(ModelLoadError, match="is not UTF-8"):
        read_calibration_texts(binary)


def test_long_files_are_sampled_evenly(tmp_path: Path) -> None:
    path = tmp_path / "many.txt"
    path.write_text("\n".join(f"text {i}" for i in range(1000)))
    texts = read_calibration_texts(path, limit=10)
    assert texts == [f"text {i}" for i in range(0, 1000, 100)]


def test_calibration_hash_follows_the_texts() -> None:
    assert calibration_hash(["a", "b"]) == calibration_hash(["a", "b"])
    assert calibration_hash(["a", "b"]) != calibration_hash(["b", "a"])
    assert calibration_hash(["ab"]) != calibration_hash(["a", "b"])
