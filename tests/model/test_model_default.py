"""The bundled all-MiniLM-L6-v2: loads offline and gives real semantics on STS-B test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from simsearch.encoder import BertEncoder
from simsearch.errors import InvalidArgumentError
from simsearch.types import FloatArray, Pooling

pytestmark = pytest.mark.slow

STS_TEST = Path(__file__).resolve().parents[2].parent / "shared/data/stsbenchmark/sts-test.csv"


@dataclass(frozen=True)
class StsPair:
    score: float
    sentence1: str
    sentence2: str


@dataclass(frozen=True)
class StsCorpus:
    """STS-B test: its pairs and every distinct sentence embedded once per pooling."""

    pairs: list[StsPair]
    sentences: list[str]
    embeddings: dict[Pooling, FloatArray]  # (n_sentences, 384) float32, normalised

    def position(self, sentence: str) -> int:
        return self.sentences.index(sentence)

    def cosines(self, pooling: Pooling) -> FloatArray:
        """Cosine similarity of each pair, in file order."""
        rows = {sentence: i for i, sentence in enumerate(self.sentences)}
        first = self.embeddings[pooling][[rows[p.sentence1] for p in self.pairs]]
        second = self.embeddings[pooling][[rows[p.sentence2] for p in self.pairs]]
        cosines: FloatArray = np.einsum("ij,ij->i", first, second)
        return cosines


def _read_sts(path: Path) -> list[StsPair]:
    """Tab-separated: genre, source, year, id, score, sentence1, sentence2[, extra columns]."""
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        columns = line.rstrip("\n").split("\t")
        pairs.append(StsPair(float(columns[4]), columns[5], columns[6]))
    return pairs


@pytest.fixture(scope="module")
def sts(default_encoder: BertEncoder) -> StsCorpus:
    if not STS_TEST.is_file():
        pytest.skip(f"STS-B test file not found at {STS_TEST}")
    pairs = _read_sts(STS_TEST)
    sentences = sorted({s for pair in pairs for s in (pair.sentence1, pair.sentence2)})
    embeddings = {
        pooling: default_encoder.encode(
            sentences, pooling, normalize=True, truncate=False
        ).embeddings
        for pooling in (Pooling.POOLER, Pooling.MEAN)
    }
    return StsCorpus(pairs, sentences, embeddings)


def _ranks(values: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
    """Ranks 0..n-1, ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values))
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    averaged: npt.NDArray[np.float64] = (np.bincount(inverse, weights=ranks) / counts)[inverse]
    return averaged


def spearman(a: npt.NDArray[np.floating[Any]], b: npt.NDArray[np.floating[Any]]) -> float:
    """Spearman rank correlation: Pearson correlation of the (tie-averaged) ranks."""
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def test_spearman_helper() -> None:
    a = np.array([1.0, 2.0, 2.0, 3.0, 5.0])
    assert spearman(a, a**3) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert _ranks(a).tolist() == [0.0, 1.5, 1.5, 3.0, 4.0]


def test_default_model_loads_offline(default_encoder: BertEncoder) -> None:
    info = default_encoder.info
    assert info.name == "all-MiniLM-L6-v2"
    assert info.hidden_size == 384
    assert info.max_length == 512
    assert info.vocab_size == 30522
    assert default_encoder.has_pooler
    assert len(info.fingerprint) == 16


def test_default_model_limit_is_512(default_encoder: BertEncoder) -> None:
    with pytest.raises(InvalidArgumentError, match=r"input 1 has 602 tokens.*limit is 512"):
        default_encoder.encode(["ok", "word " * 600], Pooling.MEAN, normalize=True, truncate=False)


def test_paraphrases_find_each_other(sts: StsCorpus) -> None:
    """Each sentence1 of a pair scored 5.0 has its sentence2 among its 3 nearest sentences."""
    embeddings = sts.embeddings[Pooling.POOLER]
    exact = [p for p in sts.pairs if p.score == 5.0 and p.sentence1 != p.sentence2]
    assert len(exact) >= 50
    found = 0
    for pair in exact:
        query = sts.position(pair.sentence1)
        scores = embeddings @ embeddings[query]
        scores[query] = -np.inf
        top3 = np.argsort(-scores)[:3]
        found += sts.position(pair.sentence2) in top3
    assert found / len(exact) >= 0.90, f"{found} of {len(exact)} found in the top 3"


def test_mean_pooling_spearman_on_sts_test(sts: StsCorpus) -> None:
    gold = np.array([p.score for p in sts.pairs])
    assert spearman(sts.cosines(Pooling.MEAN), gold) > 0.80  # published: 0.820


def test_pooler_spearman_matches_the_documented_table(sts: StsCorpus) -> None:
    gold = np.array([p.score for p in sts.pairs])
    assert spearman(sts.cosines(Pooling.POOLER), gold) == pytest.approx(0.731, abs=0.005)
