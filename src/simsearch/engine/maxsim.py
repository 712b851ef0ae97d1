"""ColBERT-style late interaction over token embeddings: MaxSim scores and alignments.

Token vectors are L2-normalised, so a dot product is a cosine. For a query q and a document d,
``MaxSim(q -> d)`` is the mean, over q's selected tokens, of each token's best cosine against
d's selected tokens; ``d -> q`` swaps the roles, and the symmetric score is the mean of both.

Which tokens are selected (``TokenSelection``): all of them, all but the special tokens, or
only "words" (no special tokens, no tokens made only of punctuation). A selection that would
leave a text with no tokens falls back to all of its tokens, so every score is defined.

Pure numpy: scoring a query against many documents is one matrix product over the documents'
stacked token rows, then a segmented max / mean (``np.maximum.reduceat``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from simsearch.types import (
    AlignedTokens,
    Alignment,
    BoolArray,
    FloatArray,
    MaxSimDirection,
    MaxSimOptions,
    TokenEmbeddings,
    TokenKind,
    TokenSelection,
    TokenVectors,
)

__all__ = [
    "align",
    "combine",
    "maxsim_many",
    "selected",
    "token_kinds",
    "token_vectors",
]

_WORDPIECE_CONTINUATION = "##"


def token_kinds(tokens: Sequence[str], special: BoolArray) -> npt.NDArray[np.uint8]:
    """``TokenKind`` of each token: special, punctuation (only punctuation characters), word."""
    kinds = np.full(len(tokens), TokenKind.WORD, dtype=np.uint8)
    for i, token in enumerate(tokens):
        if special[i]:
            kinds[i] = TokenKind.SPECIAL
        elif _is_punctuation(token.removeprefix(_WORDPIECE_CONTINUATION)):
            kinds[i] = TokenKind.PUNCTUATION
    return kinds


def _is_punctuation(text: str) -> bool:
    return bool(text) and all(unicodedata.category(ch).startswith("P") for ch in text)


def token_vectors(item: TokenEmbeddings) -> TokenVectors:
    """An encoder's token embeddings as MaxSim uses them: normalised float32 rows and kinds."""
    vectors = item.embeddings.astype(np.float32, copy=True)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors /= np.where(norms == 0, 1, norms)
    return TokenVectors(vectors=vectors, kinds=token_kinds(item.tokens, item.special_mask))


def selected(kinds: npt.NDArray[np.uint8], selection: TokenSelection) -> BoolArray:
    """Mask of the tokens taking part; all tokens when the selection would leave none."""
    if selection is TokenSelection.ALL:
        mask = np.ones(kinds.shape, dtype=np.bool_)
    elif selection is TokenSelection.NO_SPECIAL:
        mask = kinds != TokenKind.SPECIAL
    else:
        mask = kinds == TokenKind.WORD
    return mask if mask.any() else np.ones(kinds.shape, dtype=np.bool_)


def maxsim_many(
    query: TokenVectors, documents: Sequence[TokenVectors], options: MaxSimOptions
) -> FloatArray:
    """MaxSim of one query against each document, ``(len(documents),) float32``."""
    if not documents:
        return np.zeros(0, dtype=np.float32)
    q = _rows(query, options.tokens)
    masked = [_rows(doc, options.tokens) for doc in documents]
    starts = np.cumsum([0] + [len(rows) for rows in masked[:-1]])
    sims = np.vstack(masked) @ q.T  # (all document tokens, query tokens)
    scores: list[FloatArray] = []
    if options.direction is not MaxSimDirection.DOCUMENT_TO_QUERY:
        best_per_query_token = np.maximum.reduceat(sims, starts, axis=0)  # (docs, q tokens)
        scores.append(best_per_query_token.mean(axis=1))
    if options.direction is not MaxSimDirection.QUERY_TO_DOCUMENT:
        best_per_doc_token = sims.max(axis=1)  # (all document tokens,)
        lengths = np.array([len(rows) for rows in masked])
        scores.append(np.add.reduceat(best_per_doc_token, starts) / lengths)
    result: FloatArray = np.mean(scores, axis=0).astype(np.float32)
    return result


def _rows(item: TokenVectors, selection: TokenSelection) -> FloatArray:
    """The selected rows as float32 (stored float16 vectors are widened for the product)."""
    rows: FloatArray = np.asarray(item.vectors[selected(item.kinds, selection)], np.float32)
    return rows


def combine(cosine: FloatArray, maxsim: FloatArray, alpha: float | None) -> FloatArray:
    """The ranking score: MaxSim alone, or ``alpha * cosine + (1 - alpha) * maxsim``."""
    if alpha is None:
        return maxsim
    hybrid: FloatArray = (alpha * cosine + (1.0 - alpha) * maxsim).astype(np.float32)
    return hybrid


def align(
    a: TokenEmbeddings,
    b: TokenEmbeddings,
    selection: TokenSelection,
    *,
    with_matrix: bool = False,
    vectors: tuple[TokenVectors, TokenVectors] | None = None,
) -> Alignment:
    """For each selected token of a, its best selected token of b (and the reverse).

    ``vectors``: ``token_vectors`` of a and b, when the caller has them already."""
    va, vb = vectors or (token_vectors(a), token_vectors(b))
    sims = np.asarray(va.vectors @ vb.vectors.T, dtype=np.float32)
    mask_a, mask_b = selected(va.kinds, selection), selected(vb.kinds, selection)
    a_to_b, a_sim = _best_matches(sims, mask_a, mask_b)
    b_to_a, b_sim = _best_matches(sims.T, mask_b, mask_a)
    return Alignment(
        a=AlignedTokens(a.tokens, a.offsets, mask_a),
        b=AlignedTokens(b.tokens, b.offsets, mask_b),
        a_to_b=a_to_b,
        a_to_b_similarity=a_sim,
        b_to_a=b_to_a,
        b_to_a_similarity=b_sim,
        similarity=sims if with_matrix else None,
    )


def _best_matches(
    sims: FloatArray, rows: BoolArray, columns: BoolArray
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Per row: the column (among ``columns``) of its highest similarity; -1 and 0 for rows
    that are not selected."""
    candidates = np.where(columns[None, :], sims, -np.inf)
    best = candidates.argmax(axis=1).astype(np.int64)
    best_sim = candidates[np.arange(len(best)), best].astype(np.float32)
    best[~rows] = -1
    best_sim[~rows] = 0.0
    return best, best_sim
