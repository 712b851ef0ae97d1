"""Precision and threads: bf16 and int8 stay within stated tolerances of float32, "auto" picks
bf16 only on hardware that runs it natively, and the fingerprint follows the weights' values.

Tolerances (cosine similarity to the float32 vector of the same input), with what was measured:

- tiny random BERT: bf16 >= 0.9995 (measured min 0.99990), int8 >= 0.99 (min 0.9965).
- all-MiniLM-L6-v2 on STS-B sentences: bf16 >= 0.9995 per sentence and token (min 0.99994,
  tokens 0.99992), STS-B Spearman within 0.1 of float32; int8 mean >= 0.90 and min >= 0.70
  (mean-pooled min 0.77, tokens 0.74), Spearman within 2 points (it loses about 1.1).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from simsearch.encoder import BertEncoder, load_encoder
from simsearch.encoder import precision as precision_module
from simsearch.encoder.precision import native_bf16
from simsearch.types import FloatArray, Pooling, TextInput
from support.tiny_bert import CHINESE, ENGLISH_WORDS

TEXTS: list[TextInput] = [
    "the cat sits on the mat",
    "我喜欢北京",
    ("what is the weather today", "the sun is nice today"),
    " ".join(ENGLISH_WORDS[:50]),
    "".join(CHINESE[:40]),
    "hello",
]


def _cosines(a: FloatArray, b: FloatArray) -> FloatArray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    result: FloatArray = np.einsum("ij,ij->i", a, b)
    return result


def _token_cosines(a: BertEncoder, b: BertEncoder, texts: list[TextInput]) -> FloatArray:
    ours, exact = a.encode_tokens(texts, truncate=False), b.encode_tokens(texts, truncate=False)
    pairs = zip(ours, exact, strict=True)
    return np.concatenate([_cosines(x.embeddings, y.embeddings) for x, y in pairs])


@pytest.fixture(scope="module")
def tiny_bf16(tiny_model_dir: Path) -> Iterator[BertEncoder]:
    if not native_bf16(torch.device("cpu"))[0]:
        pytest.skip("this CPU has no native bf16")
    encoder = load_encoder(str(tiny_model_dir), dtype="bfloat16")
    yield encoder
    encoder.close()


@pytest.fixture(scope="module")
def tiny_int8(tiny_model_dir: Path) -> Iterator[BertEncoder]:
    encoder = load_encoder(str(tiny_model_dir), int8=True)
    yield encoder
    encoder.close()


# -- hardware detection and choices ----------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("flags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni", True),
        ("flags\t\t: fpu sse avx2 amx_bf16 amx_tile", True),
        ("Features\t: fp asimd bf16 i8mm", True),
        ("flags\t\t: fpu sse avx2 avx512f avx512_vnni", False),
    ],
)
def test_native_bf16_reads_the_cpu_flags(tmp_path: Path, flags: str, native: bool) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\n{flags}\n\nprocessor\t: 1\n{flags}\n", encoding="utf-8")
    found, why = native_bf16(torch.device("cpu"), cpuinfo)
    assert found is native
    assert ("bf16" in why) and (found or "no native bf16" in why)


def test_native_bf16_without_cpuinfo_says_so(tmp_path: Path) -> None:
    assert native_bf16(torch.device("cpu"), tmp_path / "missing") == (
        False,
        f"cannot read {tmp_path / 'missing'} to check the CPU's bf16 support",
    )


def test_auto_picks_bf16_only_where_native(
    tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    native, why = native_bf16(torch.device("cpu"))
    with caplog.at_level(logging.INFO, logger="simsearch.encoder.precision"):
        encoder = load_encoder(str(tiny_model_dir), dtype="auto")
    encoder.close()
    assert encoder.info.precision == ("bfloat16" if native else "float32")
    assert why in caplog.text  # the start-up log says which and why


def test_bf16_asked_for_without_native_support_falls_back_with_a_warning(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(precision_module, "native_bf16", lambda device: (False, "no bf16 here"))
    with caplog.at_level(logging.WARNING, logger="simsearch.encoder.precision"):
        encoder = load_encoder(str(tiny_model_dir), dtype="bfloat16")
    encoder.close()
    assert encoder.info.precision == "float32"
    assert "float32, not bfloat16: no bf16 here" in caplog.text


def test_unknown_dtype_is_refused(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="dtype must be one of auto, float32, bfloat16"):
        load_encoder(str(tiny_model_dir), dtype="float16")


def test_threads_are_set_and_reported(tiny_model_dir: Path) -> None:
    before = torch.get_num_threads()
    try:
        encoder = load_encoder(str(tiny_model_dir), threads=1)
        encoder.close()
        assert encoder.info.threads == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads"):
        load_encoder(str(tiny_model_dir), threads=-1)


# -- tolerances on the tiny model ------------------------------------------------------------


def test_bf16_is_within_tolerance_and_keeps_the_fingerprint(
    tiny_encoder: BertEncoder, tiny_bf16: BertEncoder
) -> None:
    assert tiny_bf16.info.precision == "bfloat16"
    assert tiny_bf16.info.fingerprint == tiny_encoder.info.fingerprint
    for pooling in Pooling:
        ours = tiny_bf16.encode(TEXTS, pooling, normalize=False, truncate=False).embeddings
        exact = tiny_encoder.encode(TEXTS, pooling, normalize=False, truncate=False).embeddings
        assert ours.dtype == np.float32
        assert _cosines(ours, exact).min() >= 0.9995
        assert not np.array_equal(ours, exact)  # it really ran in bf16
    assert _token_cosines(tiny_bf16, tiny_encoder, TEXTS).min() >= 0.9995


def test_int8_is_within_tolerance_and_has_its_own_fingerprint(
    tiny_encoder: BertEncoder, tiny_int8: BertEncoder
) -> None:
    assert tiny_int8.info.precision == "int8"
    assert tiny_int8.info.fingerprint != tiny_encoder.info.fingerprint
    assert len(tiny_int8.info.fingerprint) == len(tiny_encoder.info.fingerprint)
    for pooling in Pooling:
        ours = tiny_int8.encode(TEXTS, pooling, normalize=True, truncate=False).embeddings
        exact = tiny_encoder.encode(TEXTS, pooling, normalize=True, truncate=False).embeddings
        assert _cosines(ours, exact).min() >= 0.99
        assert not np.allclose(ours, exact, atol=1e-4)
    assert _token_cosines(tiny_int8, tiny_encoder, TEXTS).min() >= 0.99


# -- tolerances on the default model (STS-B) -------------------------------------------------

STS_TEST = Path(__file__).resolve().parents[2].parent / "shared/data/stsbenchmark/sts-test.csv"
STS_PAIRS = 400  # the first 400 pairs: enough to see a 0.1 Spearman shift, quick to encode


def _sts() -> tuple[list[str], FloatArray]:
    if not STS_TEST.is_file():
        pytest.skip(f"STS-B test file not found at {STS_TEST}")
    lines = STS_TEST.read_text(encoding="utf-8").splitlines()[:STS_PAIRS]
    columns = [line.rstrip("\n").split("\t") for line in lines]
    sentences = [s for c in columns for s in (c[5], c[6])]
    return sentences, np.array([float(c[4]) for c in columns])


def _spearman(vectors: FloatArray, gold: FloatArray) -> float:
    def ranks(values: FloatArray) -> FloatArray:
        result: FloatArray = np.argsort(np.argsort(values, kind="stable")).astype(np.float64)
        return result

    cosines = _cosines(vectors[0::2], vectors[1::2])
    return 100 * float(np.corrcoef(ranks(cosines), ranks(gold))[0, 1])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variant", "min_cosine", "mean_cosine", "spearman_drop"),
    [("bfloat16", 0.9995, 0.9999, 0.1), ("int8", 0.70, 0.90, 2.0)],
)
def test_default_model_reduced_precision_within_tolerance(
    default_encoder: BertEncoder,
    variant: str,
    min_cosine: float,
    mean_cosine: float,
    spearman_drop: float,
) -> None:
    if variant == "bfloat16" and not native_bf16(torch.device("cpu"))[0]:
        pytest.skip("this CPU has no native bf16")
    sentences, gold = _sts()
    int8 = variant == "int8"
    encoder = load_encoder("default", dtype="float32" if int8 else variant, int8=int8)
    try:
        assert encoder.info.precision == variant
        for pooling in Pooling:
            ours = encoder.encode(sentences, pooling, normalize=True, truncate=False).embeddings
            exact = default_encoder.encode(
                sentences, pooling, normalize=True, truncate=False
            ).embeddings
            cosines = _cosines(ours, exact)
            assert cosines.min() >= min_cosine and cosines.mean() >= mean_cosine, pooling
            assert _spearman(ours, gold) >= _spearman(exact, gold) - spearman_drop, pooling
        tokens = _token_cosines(encoder, default_encoder, list(sentences[:100]))
        assert tokens.min() >= min_cosine
    finally:
        encoder.close()
