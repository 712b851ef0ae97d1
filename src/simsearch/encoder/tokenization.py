"""Tokenize a batch of texts and text pairs, measuring before truncating anything.

Every input is first tokenized in full. An input longer than the limit is an error naming its
index and token count, unless the caller asked for truncation: then it alone is tokenized
again, cut to the limit (``longest_first`` for pairs), and marked ``truncated``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simsearch.errors import InvalidArgumentError
from simsearch.types import BoolArray, IntArray, TextInput

__all__ = ["Tokenized", "check_inputs", "tokenize"]


@dataclass(frozen=True)
class Tokenized:
    """One input as the model sees it; every array has ``n_tokens`` rows.

    input_ids, token_type_ids: ``(n_tokens,) int64``.
    offsets: ``(n_tokens, 2) int64`` character [start, end) in the token's segment text,
        ``(0, 0)`` for special tokens.
    special_mask: ``(n_tokens,) bool``, True for special tokens.
    """

    input_ids: IntArray
    token_type_ids: IntArray
    offsets: IntArray
    special_mask: BoolArray
    truncated: bool = False

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


def check_inputs(inputs: Sequence[TextInput]) -> None:
    """Raise ``InvalidArgumentError`` unless every input is a str or a pair of str."""
    for index, item in enumerate(inputs):
        if isinstance(item, str):
            continue
        if isinstance(item, tuple) and len(item) == 2 and all(isinstance(s, str) for s in item):
            continue
        raise InvalidArgumentError(
            f"input {index} is a {type(item).__name__}; expected a text or a (text, text) pair"
        )


def tokenize(
    tokenizer: Any, inputs: Sequence[TextInput], *, max_length: int, truncate: bool
) -> list[Tokenized]:
    """Tokenize every input, in input order; see the module docstring for truncation."""
    check_inputs(inputs)
    items = _tokenize_all(tokenizer, inputs, None)
    too_long = [i for i, item in enumerate(items) if len(item) > max_length]
    if too_long and not truncate:
        raise InvalidArgumentError(_too_long_message(too_long, items, max_length))
    if too_long:
        cut = _tokenize_all(tokenizer, [inputs[i] for i in too_long], max_length)
        for index, item in zip(too_long, cut, strict=True):
            items[index] = item
    return items


def _too_long_message(too_long: list[int], items: list[Tokenized], max_length: int) -> str:
    first = too_long[0]
    more = len(too_long) - 1
    others = f" ({more} other input{'s' if more > 1 else ''} too long as well)" if more else ""
    return (
        f"input {first} has {len(items[first])} tokens{others}; the model's limit is "
        f"{max_length}: shorten it or ask for truncation"
    )


def _tokenize_all(
    tokenizer: Any, inputs: Sequence[TextInput], max_length: int | None
) -> list[Tokenized]:
    """Tokenize texts and pairs as two groups, then put the results back in input order."""
    singles = [(i, item) for i, item in enumerate(inputs) if isinstance(item, str)]
    pairs = [(i, item) for i, item in enumerate(inputs) if not isinstance(item, str)]
    by_index: dict[int, Tokenized] = {}
    if singles:
        texts = [text for _, text in singles]
        encoded = _tokenize_group(tokenizer, texts, None, max_length)
        by_index.update(zip([i for i, _ in singles], encoded, strict=True))
    if pairs:
        first, second = [pair[0] for _, pair in pairs], [pair[1] for _, pair in pairs]
        encoded = _tokenize_group(tokenizer, first, second, max_length)
        by_index.update(zip([i for i, _ in pairs], encoded, strict=True))
    return [by_index[i] for i in range(len(inputs))]


def _tokenize_group(
    tokenizer: Any, first: list[str], second: list[str] | None, max_length: int | None
) -> list[Tokenized]:
    """One tokenizer call: segment A texts, with segment B texts for pairs."""
    cut: dict[str, Any] = {"truncation": False}
    if max_length is not None:
        cut = {"truncation": "longest_first", "max_length": max_length}
    encoded = tokenizer(
        first,
        text_pair=second,
        add_special_tokens=True,
        padding=False,
        return_token_type_ids=True,
        return_attention_mask=False,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        verbose=False,
        **cut,
    )
    return [_tokenized(encoded, row, max_length is not None) for row in range(len(first))]


def _tokenized(encoded: Any, row: int, truncated: bool) -> Tokenized:
    input_ids = np.asarray(encoded["input_ids"][row], dtype=np.int64)
    offsets = np.asarray(encoded["offset_mapping"][row], dtype=np.int64).reshape(-1, 2)
    return Tokenized(
        input_ids=input_ids,
        token_type_ids=np.asarray(encoded["token_type_ids"][row], dtype=np.int64),
        offsets=offsets,
        special_mask=np.asarray(encoded["special_tokens_mask"][row], dtype=np.bool_),
        truncated=truncated,
    )
