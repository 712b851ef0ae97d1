"""MaxSim and alignments against a plain-loop reference on random token vectors."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.engine.maxsim import (
    align,
    combine,
    maxsim_many,
    selected,
    token_kinds,
    token_vectors,
)
from simsearch.types import (
    MaxSimDirection,
    MaxSimOptions,
    TokenEmbeddings,
    TokenKind,
    TokenSelection,
    TokenVectors,
)

DIM = 8
W, S, P = TokenKind.WORD, TokenKind.SPECIAL, TokenKind.PUNCTUATION


def random_tokens(rng: np.random.Generator, kinds: list[int]) -> TokenVectors:
    vectors = rng.standard_normal((len(kinds), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return TokenVectors(vectors, np.array(kinds, np.uint8))


def reference(query: TokenVectors, doc: TokenVectors, options: MaxSimOptions) -> float:
    """The definition, one loop per token."""
    keep = {
        TokenSelection.ALL: {W, S, P},
        TokenSelection.NO_SPECIAL: {W, P},
        TokenSelection.WORDS: {W},
    }[options.tokens]

    def rows(item: TokenVectors) -> list[np.ndarray]:
        chosen = [v for v, kind in zip(item.vectors, item.kinds, strict=True) if kind in keep]
        return chosen or list(item.vectors)

    def one_way(a: list[np.ndarray], b: list[np.ndarray]) -> float:
        return float(np.mean([max(float(x @ y) for y in b) for x in a]))

    q, d = rows(query), rows(doc)
    if options.direction is MaxSimDirection.QUERY_TO_DOCUMENT:
        return one_way(q, d)
    if options.direction is MaxSimDirection.DOCUMENT_TO_QUERY:
        return one_way(d, q)
    return (one_way(q, d) + one_way(d, q)) / 2


def random_kinds(rng: np.random.Generator) -> list[int]:
    n = int(rng.integers(1, 12))
    return [int(k) for k in rng.choice([W, W, W, S, P], size=n)]


@pytest.mark.parametrize("direction", list(MaxSimDirection))
@pytest.mark.parametrize("tokens", list(TokenSelection))
@pytest.mark.parametrize("seed", range(5))
def test_maxsim_equals_the_reference(
    direction: MaxSimDirection, tokens: TokenSelection, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    options = MaxSimOptions(direction=direction, tokens=tokens)
    query = random_tokens(rng, [S, *random_kinds(rng), S])
    docs = [random_tokens(rng, random_kinds(rng)) for _ in range(7)]
    scores = maxsim_many(query, docs, options)
    assert scores.dtype == np.float32
    expected = [reference(query, doc, options) for doc in docs]
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)


def test_float16_documents_score_like_float32() -> None:
    rng = np.random.default_rng(3)
    query = random_tokens(rng, [S, W, W, P, S])
    docs = [random_tokens(rng, random_kinds(rng)) for _ in range(5)]
    halves = [TokenVectors(d.vectors.astype(np.float16), d.kinds) for d in docs]
    np.testing.assert_allclose(
        maxsim_many(query, halves, MaxSimOptions()),
        maxsim_many(query, docs, MaxSimOptions()),
        atol=2e-3,
    )


def test_a_document_scores_the_same_alone_and_among_others() -> None:
    rng = np.random.default_rng(4)
    query = random_tokens(rng, [S, W, W, S])
    docs = [random_tokens(rng, random_kinds(rng)) for _ in range(6)]
    together = maxsim_many(query, docs, MaxSimOptions())
    alone = [maxsim_many(query, [doc], MaxSimOptions())[0] for doc in docs]
    np.testing.assert_allclose(together, alone, rtol=1e-6)


def test_excluded_tokens_never_change_a_score() -> None:
    rng = np.random.default_rng(5)
    query = random_tokens(rng, [S, W, P, W, S])
    doc = random_tokens(rng, [S, W, W, P, S])
    options = MaxSimOptions(tokens=TokenSelection.WORDS)
    before = maxsim_many(query, [doc], options)[0]
    scrambled = doc.vectors.copy()
    scrambled[doc.kinds != W] = query.vectors[1]  # special/punctuation rows match perfectly
    after = maxsim_many(query, [TokenVectors(scrambled, doc.kinds)], options)[0]
    assert after == pytest.approx(before, abs=1e-7)
    assert maxsim_many(query, [TokenVectors(scrambled, doc.kinds)], MaxSimOptions())[0] > before


def test_a_selection_leaving_nothing_falls_back_to_every_token() -> None:
    kinds = np.array([S, P, S], np.uint8)
    assert selected(kinds, TokenSelection.WORDS).all()
    assert selected(kinds, TokenSelection.NO_SPECIAL).tolist() == [False, True, False]


def test_identical_texts_score_one_in_every_direction() -> None:
    rng = np.random.default_rng(6)
    text = random_tokens(rng, [S, W, W, P, S])
    for direction in MaxSimDirection:
        score = maxsim_many(text, [text], MaxSimOptions(direction=direction))[0]
        assert score == pytest.approx(1.0, abs=1e-6)


def test_no_documents_give_no_scores() -> None:
    rng = np.random.default_rng(7)
    assert maxsim_many(random_tokens(rng, [W]), [], MaxSimOptions()).shape == (0,)


def test_token_kinds() -> None:
    tokens = ["[CLS]", "hello", ",", "##!", "...", "don", "'", "t", "$", "[SEP]"]
    special = np.array([t.startswith("[") for t in tokens])
    assert token_kinds(tokens, special).tolist() == [S, W, P, P, P, W, P, W, W, S]


def test_combine() -> None:
    cosine = np.array([0.2, 0.8], np.float32)
    late = np.array([0.6, 0.4], np.float32)
    assert combine(cosine, late, None) is late
    np.testing.assert_allclose(combine(cosine, late, 0.25), [0.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(combine(cosine, late, 1.0), cosine)


def embeddings(rng: np.random.Generator, tokens: list[str]) -> TokenEmbeddings:
    n = len(tokens)
    special = np.array([t in ("[CLS]", "[SEP]") for t in tokens])
    return TokenEmbeddings(
        embeddings=rng.standard_normal((n, DIM)).astype(np.float32) * 3,
        tokens=tuple(tokens),
        token_ids=np.arange(n, dtype=np.int64),
        offsets=np.array([(i, i + 1) for i in range(n)], np.int64),
        special_mask=special,
        segment_ids=np.zeros(n, np.int64),
    )


@pytest.mark.parametrize("selection", list(TokenSelection))
def test_alignment_matches_the_matrix_argmax(selection: TokenSelection) -> None:
    rng = np.random.default_rng(8)
    a = embeddings(rng, ["[CLS]", "a", "b", ",", "[SEP]"])
    b = embeddings(rng, ["[CLS]", "x", "!", "y", "z", "[SEP]"])
    result = align(a, b, selection, with_matrix=True)
    assert result.similarity is not None
    va = a.embeddings / np.linalg.norm(a.embeddings, axis=1, keepdims=True)
    vb = b.embeddings / np.linalg.norm(b.embeddings, axis=1, keepdims=True)
    np.testing.assert_allclose(result.similarity, va @ vb.T, rtol=1e-5, atol=1e-6)
    for i in range(len(a.tokens)):
        if not result.a.counted[i]:
            assert result.a_to_b[i] == -1 and result.a_to_b_similarity[i] == 0
            continue
        columns = np.flatnonzero(result.b.counted)
        best = columns[np.argmax(result.similarity[i, columns])]
        assert result.a_to_b[i] == best
        assert result.a_to_b_similarity[i] == pytest.approx(result.similarity[i, best])
    for j in range(len(b.tokens)):
        if result.b.counted[j]:
            assert result.a.counted[result.b_to_a[j]]
    # The mean of the counted matches is the MaxSim score of that direction.
    options = MaxSimOptions(direction=MaxSimDirection.QUERY_TO_DOCUMENT, tokens=selection)
    expected = maxsim_many(token_vectors(a), [token_vectors(b)], options)[0]
    counted = result.a_to_b_similarity[result.a.counted]
    assert float(counted.mean()) == pytest.approx(float(expected), abs=1e-6)


def test_alignment_without_matrix_leaves_it_out() -> None:
    rng = np.random.default_rng(9)
    a = embeddings(rng, ["[CLS]", "a", "[SEP]"])
    assert align(a, a, TokenSelection.ALL).similarity is None
