"""Plain result types shared by the engine, the server and the client, and the one rule for
collection names.

Only the standard library and numpy: these types cross every layer. Arrays are documented
with their shapes and dtypes; sentence embeddings are ``(n, d) float32``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "AlignedTokens",
    "Alignment",
    "BoolArray",
    "Calibration",
    "CalibrationKind",
    "CalibrationState",
    "Classifications",
    "ClassifierHead",
    "CollectionInfo",
    "CollectionSpec",
    "Document",
    "FloatArray",
    "Hit",
    "IntArray",
    "Limits",
    "MaxSimDirection",
    "MaxSimOptions",
    "Metadata",
    "ModelInfo",
    "Pooling",
    "RerankOptions",
    "ScoredPair",
    "SearchParams",
    "SentenceEmbeddings",
    "StoredIds",
    "TextInput",
    "TokenEmbeddings",
    "TokenKind",
    "TokenSelection",
    "TokenVectors",
    "is_collection_name",
]

FloatArray: TypeAlias = npt.NDArray[np.float32]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]

# JSON-like metadata: str keys; str, float, int, bool, None, lists and nested dicts as values.
Metadata: TypeAlias = dict[str, Any]

# One input text, or a pair encoded jointly as BERT segments A and B.
TextInput: TypeAlias = str | tuple[str, str]


class Pooling(str, enum.Enum):
    """How a sentence embedding is made from BERT's outputs.

    POOLER: ``pooler_output`` = tanh(W · h_[CLS] + b), the default.
    CLS: ``last_hidden_state[:, 0]``.
    MEAN: mean of ``last_hidden_state`` over the real (non-padding) tokens.
    """

    POOLER = "pooler"
    CLS = "cls"
    MEAN = "mean"


class MaxSimDirection(str, enum.Enum):
    """Which way MaxSim runs; q->d averages, over query tokens, each one's best document match."""

    SYMMETRIC = "symmetric"  # mean of both directions
    QUERY_TO_DOCUMENT = "query_to_document"
    DOCUMENT_TO_QUERY = "document_to_query"


class TokenSelection(str, enum.Enum):
    """Which tokens take part in MaxSim. A text left with none falls back to all its tokens."""

    ALL = "all"  # [CLS] and [SEP] included
    NO_SPECIAL = "no_special"
    WORDS = "words"  # no special tokens, no tokens made only of punctuation


class CalibrationKind(str, enum.Enum):
    """A per-collection transform of sentence vectors, fitted on the collection's documents.

    NONE: vectors as the model makes them. CENTER: the mean removed. WHITEN: the mean removed
    and the covariance made the identity (U diag(1/sqrt(s)) from its SVD; Su et al. 2021).
    """

    NONE = "none"
    CENTER = "center"
    WHITEN = "whiten"


class TokenKind(enum.IntEnum):
    """What a token is, stored per token so a selection can be applied later."""

    WORD = 0
    SPECIAL = 1
    PUNCTUATION = 2


@dataclass(frozen=True)
class MaxSimOptions:
    """Late-interaction scoring. ``alpha`` set: hybrid = alpha·cosine + (1 - alpha)·MaxSim."""

    direction: MaxSimDirection = MaxSimDirection.SYMMETRIC
    tokens: TokenSelection = TokenSelection.ALL
    alpha: float | None = None


@dataclass(frozen=True)
class RerankOptions:
    """Search, then rerank the top ``depth`` hits by MaxSim; depth 0 means max(k, 50) (50
    capped by the server's ``max_rerank_depth``)."""

    depth: int = 0
    maxsim: MaxSimOptions = field(default_factory=MaxSimOptions)
    # Rerank with the model's classification head over (query, document) pairs encoded
    # jointly instead of MaxSim (``ClassifierHead.relevance_label``); maxsim is then ignored.
    cross_encoder: bool = False


@dataclass(frozen=True)
class SearchParams:
    """Per-request parameters of approximate indexes; None keeps the collection's setting."""

    ef_search: int | None = None
    nprobe: int | None = None


@dataclass(frozen=True)
class StoredIds:
    """Search queries given as stored documents ("more like this"): each id's stored vector
    is one query, and no hit is any of the ids."""

    ids: tuple[str, ...]


@dataclass(frozen=True)
class Document:
    """A stored document: a caller-chosen string id, its text and JSON-like metadata."""

    id: str
    text: str
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """One search result.

    score: what hits are ranked by: the cosine of the sentence embeddings, or after a MaxSim
        rerank the MaxSim score (the hybrid score when alpha was given).
    sentence_score: the cosine of the sentence embeddings (None means equal to ``score``).
    maxsim_score: the MaxSim score, set after a rerank.
    relevance_score: the classification head's relevance probability, set after a
        cross-encoder rerank (then also ``score``).
    """

    id: str
    score: float
    text: str
    metadata: Metadata = field(default_factory=dict)
    sentence_score: float | None = None
    maxsim_score: float | None = None
    relevance_score: float | None = None

    @property
    def cosine(self) -> float:
        """The sentence-embedding cosine, whether or not the hit was reranked."""
        return self.score if self.sentence_score is None else self.sentence_score


@dataclass(frozen=True)
class SentenceEmbeddings:
    """Pooled vectors for a batch of inputs.

    embeddings: ``(n, d) float32``, row i for input i, L2-normalised if asked.
    truncated: indices of the inputs that were cut to the model's maximum length.
    """

    embeddings: FloatArray
    truncated: tuple[int, ...] = ()


@dataclass(frozen=True)
class TokenEmbeddings:
    """``last_hidden_state`` of one input, padding removed; all arrays have n_tokens rows.

    embeddings: ``(n_tokens, d) float32``, not normalised.
    tokens: the tokenizer's token strings, special tokens included (``[CLS]``, ``[SEP]``).
    token_ids: ``(n_tokens,) int64`` vocabulary ids.
    offsets: ``(n_tokens, 2) int64`` character [start, end) in the input text of the token's
        segment; ``(0, 0)`` for special tokens.
    special_mask: ``(n_tokens,) bool``, True for special tokens.
    segment_ids: ``(n_tokens,) int64``, 0 for segment A, 1 for segment B of a pair.
    truncated: whether the input was cut to the model's maximum length.
    unknown_tokens: how many tokens are the tokenizer's unknown token (``[UNK]``): text the
        model's vocabulary cannot represent, e.g. another script than the model was trained on.
    """

    embeddings: FloatArray
    tokens: tuple[str, ...]
    token_ids: IntArray
    offsets: IntArray
    special_mask: BoolArray
    segment_ids: IntArray
    truncated: bool = False
    unknown_tokens: int = 0


@dataclass(frozen=True)
class TokenVectors:
    """One text's token embeddings as MaxSim uses them.

    vectors: ``(n_tokens, d)``, L2-normalised rows, float32 or float16 (as stored).
    kinds: ``(n_tokens,) uint8`` ``TokenKind`` values.
    """

    vectors: npt.NDArray[np.floating[Any]]
    kinds: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return int(self.kinds.shape[0])


@dataclass(frozen=True)
class AlignedTokens:
    """One side of an alignment: tokens, offsets ``(n, 2) int64`` and the counted mask."""

    tokens: tuple[str, ...]
    offsets: IntArray
    counted: BoolArray


@dataclass(frozen=True)
class Alignment:
    """The token matches behind a pair's MaxSim score.

    a_to_b[i]: index of the counted token of b with the highest cosine to token i of a, -1 for
    an uncounted token (its similarity is 0); b_to_a likewise. similarity: the full
    ``(len(a), len(b)) float32`` cosine matrix, when asked for.
    """

    a: AlignedTokens
    b: AlignedTokens
    a_to_b: IntArray
    a_to_b_similarity: FloatArray
    b_to_a: IntArray
    b_to_a_similarity: FloatArray
    similarity: FloatArray | None = None


@dataclass(frozen=True)
class ScoredPair:
    """One mined pair: ``b`` is among the best matches of ``a`` (never ``a`` itself).

    score: what ``min_score`` applies to: sentence_score, or the MaxSim (hybrid) score when
        MaxSim rescored the pair. maxsim_score: set when it did.
    """

    a: str
    b: str
    score: float
    sentence_score: float
    maxsim_score: float | None = None


@dataclass(frozen=True)
class Classifications:
    """The classification head's answer for a batch, row i for input i.

    logits, probabilities: ``(n, labels) float32``. label_ids: ``(n,) int64``, the most
    probable label of each input; labels: their names. truncated: as in SentenceEmbeddings.
    """

    logits: FloatArray
    probabilities: FloatArray
    label_ids: IntArray
    labels: tuple[str, ...]
    truncated: tuple[int, ...] = ()


@dataclass(frozen=True)
class ClassifierHead:
    """A checkpoint's sequence-classification head: logits = W · pooler_output + b.

    labels: id2label in id order. problem_type: "single_label_classification" (softmax),
    "multi_label_classification" (sigmoid per label) or "regression" (one label, sigmoid).
    relevance_label: the label whose probability a cross-encoder rerank ranks by; "" when the
    labels allow no relevance reading.
    """

    labels: tuple[str, ...]
    problem_type: str
    relevance_label: str = ""


@dataclass(frozen=True)
class ModelInfo:
    """The loaded model. ``fingerprint`` is a hash of its weights and tokenizer vocabulary."""

    name: str
    fingerprint: str
    hidden_size: int
    max_length: int
    vocab_size: int
    device: str = "cpu"
    precision: str = "float32"  # float32, bfloat16, int8 (torch dynamic) or int8-static
    threads: int = 0  # intra-op threads; 0: not reported
    engine: str = "torch"  # the inference engine: torch or openvino
    encoder: str = "local"  # where the model runs: local (this process) or ray (Ray Serve)
    replicas: int = 1  # model replicas behind this front-end
    # Poolings this model supports: POOLER needs a pooler layer in the checkpoint.
    poolings: tuple[Pooling, ...] = (Pooling.POOLER, Pooling.CLS, Pooling.MEAN)
    head: ClassifierHead | None = None  # the sequence-classification head, when it has one


# The one rule for collection names: the engine refuses others, the catalog's folders and
# Milvus' names (``index.milvus.names``) are made from them.
COLLECTION_NAME_RULE = "1-64 of letters, digits, '_', '.' and '-', starting with a letter or digit"
_COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def is_collection_name(name: object) -> bool:
    """Whether ``name`` follows ``COLLECTION_NAME_RULE`` (so it is also a plain folder name)."""
    return isinstance(name, str) and _COLLECTION_NAME.fullmatch(name) is not None


@dataclass(frozen=True)
class Calibration:
    """A collection's vector calibration. dimensions: WHITEN only, the leading dimensions
    kept (0: all); the index then holds vectors of that dimension."""

    kind: CalibrationKind = CalibrationKind.NONE
    dimensions: int = 0


@dataclass(frozen=True)
class CalibrationState:
    """A collection's calibration and its fit: until ``fitted``, vectors are used raw.

    fit_threshold: the write that brings the collection to this many documents fits it (when
    it has no fit yet). fitted_at: seconds since the Unix epoch; fitted_on: documents used.
    """

    calibration: Calibration = field(default_factory=Calibration)
    fit_threshold: int = 0
    fitted: bool = False
    fitted_at: float = 0.0
    fitted_on: int = 0


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection is built with; fixed at creation.

    index: ``"flat"`` (exact inner product, the default) or a FAISS factory string such as
    ``"HNSW32"`` or ``"IVF256,PQ48"``.
    """

    name: str
    pooling: Pooling
    index: str
    dimension: int
    model_name: str
    model_fingerprint: str
    store_tokens: bool = False  # keep documents' token embeddings (float16) for reranking
    calibration: Calibration = field(default_factory=Calibration)


@dataclass(frozen=True)
class CollectionInfo:
    """A collection's spec and its live state.

    compatible: False when the loaded model is not the one the collection was built with; such
    a collection can be described, listed and dropped but not searched or written.
    """

    spec: CollectionSpec
    count: int
    created_at: float
    compatible: bool = True
    # Empty when the collection is open and usable; else why it could not be opened (it can
    # then only be listed, described and dropped; spec fields other than name may be unknown).
    unavailable: str = ""
    calibration: CalibrationState = field(default_factory=CalibrationState)


@dataclass(frozen=True)
class Limits:
    """Per-request limits the server enforces before any expensive work."""

    max_batch: int = 256
    max_k: int = 1000
    max_text_chars: int = 100_000
    max_message_bytes: int = 64 * 1024 * 1024
    max_rerank_depth: int = 1000
    max_concurrent_rpcs: int = 64
    max_queue_depth: int = 4096
    stream_idle_timeout_s: float = 30.0  # an UpsertStream silent this long is ended
    max_filter_keys: int = 64  # most keys in one metadata filter
