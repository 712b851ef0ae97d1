"""A deterministic, torch-free ``Encoder`` for the engine's unit tests.

Imported as ``unit.fake_encoder`` (``tests/`` is on ``sys.path``).

Texts are split into words (runs of non-whitespace). Each word has a fixed pseudo-random
``(DIMENSION,)`` vector seeded by a hash of the word, so texts that share words are similar and
a text is identical to itself. A sentence embedding is the sum of its word vectors (segment B of
a pair uses differently seeded vectors), then a per-pooling signed permutation, so the three
poolings give different but equally good vector spaces. ``max_length`` counts words, special
tokens excluded. Every call is recorded in :attr:`FakeEncoder.calls`; :attr:`FakeEncoder.passes`
counts the calls that got past ``admit`` to the "model" (the vectors).

Given a ``ClassifierHead``, it also classifies: logits are a fixed pseudo-random linear map
(:func:`head_weights`) of the raw POOLER sentence vector, probabilities their softmax (sigmoid
for other problem types).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from simsearch.errors import FailedPreconditionError, InvalidArgumentError
from simsearch.types import (
    Classifications,
    ClassifierHead,
    FloatArray,
    ModelInfo,
    Pooling,
    SentenceEmbeddings,
    TextInput,
    TokenEmbeddings,
)

__all__ = ["DIMENSION", "Call", "FakeEncoder", "head_weights", "word_vector"]

DIMENSION = 16
VOCAB_SIZE = 30_000
_WORD = re.compile(r"\S+")
_SPECIAL = {"[CLS]": 101, "[SEP]": 102}
Admit = Callable[[Sequence[TokenEmbeddings]], None]


@dataclass(frozen=True)
class Call:
    """One recorded call: ``"encode"``, ``"encode_tokens"`` or ``"encode_with_tokens"``."""

    method: str
    inputs: tuple[TextInput, ...]
    pooling: Pooling | None
    normalize: bool
    truncate: bool


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int
    segment: int


def _seed(*parts: str) -> int:
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def word_vector(word: str, segment: int = 0) -> FloatArray:
    """The fixed ``(DIMENSION,) float32`` vector of a word in segment 0 (A) or 1 (B)."""
    rng = np.random.default_rng(_seed("word", str(segment), word))
    return rng.standard_normal(DIMENSION).astype(np.float32)


def head_weights(labels: int) -> tuple[FloatArray, FloatArray]:
    """The fake head's fixed ``(labels, DIMENSION)`` weight and ``(labels,)`` bias."""
    rng = np.random.default_rng(_seed("head", str(labels)))
    weight = rng.standard_normal((labels, DIMENSION)).astype(np.float32) / np.sqrt(DIMENSION)
    return weight, rng.standard_normal(labels).astype(np.float32)


def _pooling_transform(pooling: Pooling) -> tuple[np.ndarray, FloatArray]:
    """A fixed permutation and sign pattern per pooling (identity for POOLER)."""
    if pooling is Pooling.POOLER:
        return np.arange(DIMENSION), np.ones(DIMENSION, np.float32)
    rng = np.random.default_rng(_seed("pooling", pooling.value))
    signs = rng.choice(np.array([-1.0, 1.0], np.float32), size=DIMENSION)
    return rng.permutation(DIMENSION), signs.astype(np.float32)


def _words(text: str, segment: int) -> list[_Word]:
    return [_Word(m.group(), m.start(), m.end(), segment) for m in _WORD.finditer(text)]


def _segments(item: TextInput) -> list[list[_Word]]:
    if isinstance(item, tuple):
        return [_words(item[0], 0), _words(item[1], 1)]
    return [_words(item, 0)]


def _cut(segments: list[list[_Word]], max_length: int) -> list[list[_Word]]:
    """Drop words from the end of the longest segment until ``max_length`` words remain."""
    cut = [list(words) for words in segments]
    while sum(len(words) for words in cut) > max_length:
        max(cut, key=len).pop()
    return cut


class FakeEncoder:
    """Satisfies ``simsearch.engine.ports.Encoder``; see the module docstring."""

    def __init__(
        self,
        fingerprint: str = "fake-fingerprint-a",
        *,
        max_length: int = 32,
        name: str = "fake",
        head: ClassifierHead | None = None,
    ) -> None:
        self._info = ModelInfo(
            name=name,
            fingerprint=fingerprint,
            hidden_size=DIMENSION,
            max_length=max_length,
            vocab_size=VOCAB_SIZE,
            head=head,
        )
        self.calls: list[Call] = []
        self.passes = 0

    @property
    def info(self) -> ModelInfo:
        return self._info

    def encode(
        self,
        inputs: Sequence[TextInput],
        pooling: Pooling,
        *,
        normalize: bool,
        truncate: bool,
    ) -> SentenceEmbeddings:
        self.calls.append(Call("encode", tuple(inputs), Pooling(pooling), normalize, truncate))
        prepared, truncated = self._prepare(inputs, truncate)
        self.passes += 1
        rows = self._sentences(prepared, Pooling(pooling), normalize=normalize)
        return SentenceEmbeddings(embeddings=rows, truncated=truncated)

    @staticmethod
    def _sentences(
        prepared: list[list[list[_Word]]], pooling: Pooling, *, normalize: bool
    ) -> FloatArray:
        order, signs = _pooling_transform(pooling)
        rows = np.zeros((len(prepared), DIMENSION), np.float32)
        for i, segments in enumerate(prepared):
            for word in (word for words in segments for word in words):
                rows[i] += word_vector(word.text, word.segment)
        rows = (rows[:, order] * signs).astype(np.float32)
        if normalize:
            norms = np.linalg.norm(rows, axis=1, keepdims=True)
            rows /= np.where(norms == 0, 1, norms).astype(np.float32)
        return rows

    def encode_tokens(
        self, inputs: Sequence[TextInput], *, truncate: bool, admit: Admit | None = None
    ) -> list[TokenEmbeddings]:
        self.calls.append(Call("encode_tokens", tuple(inputs), None, False, truncate))
        prepared, truncated = self._prepare(inputs, truncate)
        return self._admitted_tokens(prepared, truncated, admit)

    def encode_with_tokens(
        self,
        inputs: Sequence[TextInput],
        pooling: Pooling,
        *,
        truncate: bool,
        admit: Admit | None = None,
    ) -> tuple[SentenceEmbeddings, list[TokenEmbeddings]]:
        self.calls.append(
            Call("encode_with_tokens", tuple(inputs), Pooling(pooling), True, truncate)
        )
        prepared, truncated = self._prepare(inputs, truncate)
        tokens = self._admitted_tokens(prepared, truncated, admit)
        sentences = self._sentences(prepared, Pooling(pooling), normalize=True)
        return SentenceEmbeddings(sentences, truncated), tokens

    def _admitted_tokens(
        self, prepared: list[list[list[_Word]]], truncated: tuple[int, ...], admit: Admit | None
    ) -> list[TokenEmbeddings]:
        """Token embeddings, once ``admit`` (shown them without columns) lets the call pass."""
        tokens = [
            _token_embeddings(segments, i in truncated) for i, segments in enumerate(prepared)
        ]
        if admit is not None:
            admit([replace(t, embeddings=np.empty((len(t.tokens), 0), np.float32)) for t in tokens])
        self.passes += 1
        return tokens

    def classify(self, inputs: Sequence[TextInput], *, truncate: bool) -> Classifications:
        head = self._info.head
        if head is None:
            raise FailedPreconditionError("the fake model has no classification head")
        self.calls.append(Call("classify", tuple(inputs), Pooling.POOLER, False, truncate))
        prepared, truncated = self._prepare(inputs, truncate)
        self.passes += 1
        weight, bias = head_weights(len(head.labels))
        logits = self._sentences(prepared, Pooling.POOLER, normalize=False) @ weight.T + bias
        if head.problem_type == "single_label_classification":
            exp = np.exp(logits - logits.max(axis=1, keepdims=True))
            probabilities = exp / exp.sum(axis=1, keepdims=True)
        else:
            probabilities = 1 / (1 + np.exp(-logits))
        ids = np.argmax(probabilities, axis=1).astype(np.int64)
        labels = tuple(head.labels[i] for i in ids)
        return Classifications(
            logits.astype(np.float32), probabilities.astype(np.float32), ids, labels, truncated
        )

    def close(self) -> None:
        self.calls.append(Call("close", (), None, False, False))

    def _prepare(
        self, inputs: Sequence[TextInput], truncate: bool
    ) -> tuple[list[list[list[_Word]]], tuple[int, ...]]:
        """Split every input into segments of words; refuse or cut those over max_length."""
        limit = self._info.max_length
        prepared, truncated = [], []
        for i, item in enumerate(inputs):
            segments = _segments(item)
            length = sum(len(words) for words in segments)
            if length > limit:
                if not truncate:
                    raise InvalidArgumentError(
                        f"inputs[{i}] has {length} words; the model takes at most {limit}"
                    )
                segments = _cut(segments, limit)
                truncated.append(i)
            prepared.append(segments)
        return prepared, tuple(truncated)


def _token_embeddings(segments: list[list[_Word]], truncated: bool) -> TokenEmbeddings:
    """[CLS] A... [SEP] (B... [SEP]): one row per token, BERT's segment ids."""
    tokens: list[tuple[str, int, int, int, bool]] = [("[CLS]", 0, 0, 0, True)]
    for segment, words in enumerate(segments):
        tokens += [(w.text, w.start, w.end, segment, False) for w in words]
        tokens.append(("[SEP]", 0, 0, segment, True))
    vectors = [
        word_vector(text, segment) if not special else word_vector(text, -1)
        for text, _, _, segment, special in tokens
    ]
    return TokenEmbeddings(
        embeddings=np.stack(vectors).astype(np.float32),
        tokens=tuple(t[0] for t in tokens),
        token_ids=np.array([_token_id(t[0]) for t in tokens], np.int64),
        offsets=np.array([(t[1], t[2]) for t in tokens], np.int64).reshape(-1, 2),
        special_mask=np.array([t[4] for t in tokens], np.bool_),
        segment_ids=np.array([t[3] for t in tokens], np.int64),
        truncated=truncated,
    )


def _token_id(token: str) -> int:
    if token in _SPECIAL:
        return _SPECIAL[token]
    return 1000 + _seed("id", token) % (VOCAB_SIZE - 1000)
