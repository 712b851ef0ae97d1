"""The OpenVINO engine: its vectors equal the torch float32 reference within the stated
tolerances, and the engine is chosen as documented.

Tolerances against torch float32 (``docs/engines.md``), with what was measured:

- OpenVINO float32: elementwise within 1e-4 (vectors of order 1; tiny model measured 2e-7).
- OpenVINO bfloat16: cosine >= 0.9995 per sentence and per token, as torch bfloat16 (tiny
  model measured min 0.99996; all-MiniLM-L6-v2 on STS-B min 0.9999).

Both share the float32 fingerprint. The cache tests are in ``test_model_engines_cache.py``,
static int8 in ``test_model_engines_int8.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from simsearch.encoder import BertEncoder, ModelLoadError, load_encoder
from simsearch.encoder import engines as engines_module
from simsearch.encoder.engines import choose_engine
from simsearch.encoder.precision import native_bf16
from simsearch.types import FloatArray, Pooling, TextInput
from support.reference import Reference, assert_close
from support.tiny_bert import CHINESE, ENGLISH_WORDS

F32_ATOL = 1e-4
BF16_MIN_COSINE = 0.9995

TEXTS: list[TextInput] = [
    "the cat sits on the mat",
    "我喜欢北京",
    ("what is the weather today", "the sun is nice today"),
    " ".join(ENGLISH_WORDS[:50]),
    "hello",
    ("a dog", "他是中国人"),
]
LONG = " ".join(ENGLISH_WORDS) + " " + "".join(CHINESE)  # far over the tiny model's 64 tokens


def _cosines(a: FloatArray, b: FloatArray) -> FloatArray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    result: FloatArray = (a * b).sum(axis=-1)
    return result


def _assert_within(actual: FloatArray, expected: FloatArray, precision: str) -> None:
    """The stated tolerance of ``precision`` (rows of ``actual`` are vectors)."""
    if precision == "float32":
        assert_close(actual, expected, atol=F32_ATOL)
    else:
        assert _cosines(np.asarray(actual), np.asarray(expected)).min() >= BF16_MIN_COSINE


@pytest.fixture(scope="module", params=["float32", "bfloat16"])
def openvino_encoder(request: pytest.FixtureRequest, tiny_model_dir: Path) -> Iterator[BertEncoder]:
    """The tiny model on the openvino engine, converted in memory (no cache dir)."""
    if request.param == "bfloat16" and not native_bf16(torch.device("cpu"))[0]:
        pytest.skip("this CPU has no native bf16")
    encoder = load_encoder(
        str(tiny_model_dir), engine="openvino", dtype=request.param, batch_size=4
    )
    yield encoder
    encoder.close()


# -- parity with torch float32 ----------------------------------------------------------------


def test_info_reports_the_engine_and_the_shared_fingerprint(
    openvino_encoder: BertEncoder, tiny_encoder: BertEncoder
) -> None:
    info = openvino_encoder.info
    assert info.engine == "openvino"
    assert tiny_encoder.info.engine == "torch"
    assert info.precision in {"float32", "bfloat16"}
    assert info.fingerprint == tiny_encoder.info.fingerprint
    assert info.threads >= 1
    assert set(info.poolings) == set(Pooling)
    assert "openvino" in repr(openvino_encoder)


@pytest.mark.parametrize("pooling", list(Pooling))
def test_sentence_embeddings_match_torch_float32(
    openvino_encoder: BertEncoder, reference: Reference, pooling: Pooling
) -> None:
    expected = np.stack([getattr(reference, pooling.value)(text) for text in TEXTS])
    result = openvino_encoder.encode(TEXTS, pooling, normalize=False, truncate=False)
    assert result.embeddings.dtype == np.float32
    assert result.embeddings.shape == expected.shape
    _assert_within(result.embeddings, expected, openvino_encoder.info.precision)


def test_token_rows_match_last_hidden_state(
    openvino_encoder: BertEncoder, reference: Reference
) -> None:
    results = openvino_encoder.encode_tokens(TEXTS, truncate=False)
    for text, result in zip(TEXTS, results, strict=True):
        assert result.embeddings.dtype == np.float32
        expected = reference.tokens(text)
        assert result.embeddings.shape == expected.shape
        _assert_within(result.embeddings, expected, openvino_encoder.info.precision)


def test_pairs_use_segment_b(openvino_encoder: BertEncoder, reference: Reference) -> None:
    pair = ("a dog", "the cat")
    result = openvino_encoder.encode([pair], Pooling.CLS, normalize=False, truncate=False)
    _assert_within(result.embeddings, reference.cls(pair)[None], openvino_encoder.info.precision)
    joined = openvino_encoder.encode(
        ["a dog the cat"], Pooling.CLS, normalize=False, truncate=False
    )
    assert not np.allclose(result.embeddings[0], joined.embeddings[0], atol=1e-3)


@pytest.mark.parametrize("pooling", list(Pooling))
def test_truncated_input_matches_the_truncated_reference(
    openvino_encoder: BertEncoder, reference: Reference, pooling: Pooling
) -> None:
    result = openvino_encoder.encode([LONG, "hello"], pooling, normalize=False, truncate=True)
    assert result.truncated == (0,)
    expected = getattr(reference, pooling.value)(LONG, truncation=True, max_length=64)
    _assert_within(result.embeddings[:1], expected[None], openvino_encoder.info.precision)


@pytest.mark.parametrize("pooling", list(Pooling))
def test_batch_equals_single(openvino_encoder: BertEncoder, pooling: Pooling) -> None:
    batch = openvino_encoder.encode(TEXTS, pooling, normalize=True, truncate=False).embeddings
    single = np.concatenate(
        [
            openvino_encoder.encode([text], pooling, normalize=True, truncate=False).embeddings
            for text in TEXTS
        ]
    )
    _assert_within(batch, single, openvino_encoder.info.precision)


def test_no_pooler_without_trained_pooler(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import BertModel

    model = BertModel.from_pretrained(str(tiny_model_dir), local_files_only=True)
    model.pooler = None
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir), local_files_only=True)
    encoder = BertEncoder(tokenizer, model, name="no-pooler", engine="openvino")
    try:
        assert not encoder.has_pooler
        assert Pooling.POOLER not in encoder.info.poolings
        mean = encoder.encode(["hello"], Pooling.MEAN, normalize=False, truncate=False)
        assert mean.embeddings.shape == (1, 32)
    finally:
        encoder.close()


# -- choosing the engine ------------------------------------------------------------------------


def test_auto_picks_openvino_on_the_cpu(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="simsearch.encoder.engines"):
        assert choose_engine("auto", torch.device("cpu")) == "openvino"
    assert "inference engine: openvino (auto: the device is a CPU" in caplog.text


@pytest.mark.parametrize(
    ("device", "int8", "why"),
    [("cuda", False, "the device is cuda"), ("cpu", True, "int8 is torch's dynamic")],
)
def test_auto_keeps_torch(
    caplog: pytest.LogCaptureFixture, device: str, int8: bool, why: str
) -> None:
    with caplog.at_level(logging.INFO, logger="simsearch.encoder.engines"):
        assert choose_engine("auto", torch.device(device), int8=int8) == "torch"
    assert why in caplog.text


def test_auto_keeps_torch_without_openvino(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(engines_module, "_openvino_version", lambda: None)
    with caplog.at_level(logging.INFO, logger="simsearch.encoder.engines"):
        assert choose_engine("auto", torch.device("cpu")) == "torch"
    assert "openvino package is not installed" in caplog.text
    with pytest.raises(ModelLoadError, match="needs the openvino package"):
        choose_engine("openvino", torch.device("cpu"))


@pytest.mark.parametrize(
    ("engine", "device", "int8", "calibrated", "message"),
    [
        ("openvino", "cuda", False, False, "runs on the CPU, not on cuda"),
        ("openvino", "cpu", True, False, "int8 is torch's dynamic quantization"),
        ("torch", "cpu", False, True, "runs on the openvino engine, not torch"),
        ("auto", "cuda", False, True, "runs on the openvino engine, not torch"),
    ],
)
def test_impossible_combinations_fail_clearly(
    engine: str, device: str, int8: bool, calibrated: bool, message: str
) -> None:
    with pytest.raises(ModelLoadError, match=message):
        choose_engine(engine, torch.device(device), int8=int8, calibrated=calibrated)


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="engine must be one of auto, torch, openvino"):
        choose_engine("tensorrt", torch.device("cpu"))


def test_torch_engine_is_the_library_default(tiny_encoder: BertEncoder) -> None:
    assert tiny_encoder.info.engine == "torch"


def test_threads_set_the_inference_threads(tiny_model_dir: Path) -> None:
    encoder = load_encoder(str(tiny_model_dir), engine="openvino", threads=1)
    try:
        assert encoder.info.threads == 1
    finally:
        encoder.close()


def test_openvino_forward_passes_are_counted(
    openvino_encoder: BertEncoder, forward_passes: list[int]
) -> None:
    openvino_encoder.encode(["hello", "the cat"], Pooling.MEAN, normalize=True, truncate=False)
    assert sum(forward_passes) == 2


# -- the bundled model ----------------------------------------------------------------------------

STS_TEST = Path(__file__).resolve().parents[2].parent / "shared/data/stsbenchmark/sts-test.csv"


def _sts_sentences(count: int) -> list[str]:
    if not STS_TEST.is_file():
        pytest.skip(f"STS-B test set not found at {STS_TEST}")
    lines = STS_TEST.read_text(encoding="utf-8").splitlines()
    sentences = dict.fromkeys(s for line in lines for s in line.split("\t")[5:7])
    return list(sentences)[:count]


@pytest.mark.slow
def test_bundled_model_matches_torch_float32(
    default_encoder: BertEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simsearch.encoder import openvino_convert

    conversions: list[int] = []
    original = openvino_convert.convert_to_openvino
    monkeypatch.setattr(
        openvino_convert,
        "convert_to_openvino",
        lambda *args: conversions.append(1) or original(*args),
    )
    sentences = _sts_sentences(120)
    assert default_encoder.info.precision == "float32"
    dtypes = ["float32", "bfloat16"] if native_bf16(torch.device("cpu"))[0] else ["float32"]
    for dtype in dtypes:  # the second load comes from the cache
        encoder = load_encoder("default", engine="openvino", dtype=dtype, cache_dir=tmp_path)
        try:
            assert encoder.info.fingerprint == default_encoder.info.fingerprint
            assert encoder.info.precision == dtype
            for pooling in Pooling:
                ours = encoder.encode(sentences, pooling, normalize=True, truncate=True)
                exact = default_encoder.encode(sentences, pooling, normalize=True, truncate=True)
                _assert_within(ours.embeddings, exact.embeddings, dtype)
            ours_tokens = encoder.encode_tokens(sentences[:20], truncate=True)
            exact_tokens = default_encoder.encode_tokens(sentences[:20], truncate=True)
            for mine, theirs in zip(ours_tokens, exact_tokens, strict=True):
                _assert_within(mine.embeddings, theirs.embeddings, dtype)
        finally:
            encoder.close()
    assert len(conversions) == 1
