"""Tokenize a batch of texts and text pairs, measuring before truncating anything.

Every input is first tokenized in full. An input longer than the limit is an error naming its
index and token count, unless the caller asked for truncation: then it alone is tokenized
again, cut to the limit (``longest_first`` for pairs), and marked ``truncated``.

A fast (Rust) tokenizer is called directly, through private copies of its backend: one that
never truncates and one per length it cuts to. They are set up once and never changed, so
calls need no lock and skip the per-call settings and conversions of ``transformers``' own
``__call__`` (about a third of what tokenizing one short text costs). Their output is the same
as that call's: same settings, same backend.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tokenizers import Encoding
from tokenizers import Tokenizer as Backend

from simsearch.errors import InvalidArgumentError
from simsearch.types import BoolArray, FloatArray, IntArray, TextInput, TokenEmbeddings

__all__ = [
    "Tokenized",
    "admit_tokens",
    "check_input_types",
    "token_embeddings",
    "token_strings",
    "tokenize",
]

# The engine's ``ports.Admit``, spelled here too: the encoder does not import the engine.
Admit = Callable[[Sequence[TokenEmbeddings]], None]


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


def check_input_types(inputs: Sequence[TextInput]) -> None:
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
    check_input_types(inputs)
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
    backends = _backends(tokenizer)
    if backends is None:
        return _tokenize_group_slow(tokenizer, first, second, max_length)
    backend = backends.full if max_length is None else backends.cut(max_length)
    texts: list[Any] = first if second is None else list(zip(first, second, strict=True))
    encoded = backend.encode_batch(texts, add_special_tokens=True)
    return [_from_encoding(encoding, max_length is not None) for encoding in encoded]


def _from_encoding(encoding: Encoding, truncated: bool) -> Tokenized:
    return Tokenized(
        input_ids=np.array(encoding.ids, dtype=np.int64),
        token_type_ids=np.array(encoding.type_ids, dtype=np.int64),
        offsets=np.array(encoding.offsets, dtype=np.int64).reshape(-1, 2),
        special_mask=np.array(encoding.special_tokens_mask, dtype=np.bool_),
        truncated=truncated,
    )


@dataclass
class _Backends:
    """Private copies of one tokenizer's backend: ``full`` never truncates; ``cut(n)`` cuts
    to n tokens as ``transformers`` does (``longest_first``, the tokenizer's side)."""

    source: Backend
    side: str
    split_special_tokens: bool
    full: Backend = field(init=False)
    _cut: dict[int, Backend] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.full = self._copy()

    def cut(self, max_length: int) -> Backend:
        with self._lock:  # made once per length; reading a made one is safe without it
            backend = self._cut.get(max_length)
            if backend is None:
                backend = self._copy()
                backend.enable_truncation(
                    max_length, stride=0, strategy="longest_first", direction=self.side
                )
                self._cut[max_length] = backend
            return backend

    def _copy(self) -> Backend:
        backend = Backend.from_str(self.source.to_str())
        backend.no_truncation()
        backend.no_padding()
        backend.encode_special_tokens = self.split_special_tokens
        return backend


_BACKENDS: weakref.WeakKeyDictionary[Any, _Backends] = weakref.WeakKeyDictionary()
_BACKENDS_LOCK = threading.Lock()


def _backends(tokenizer: Any) -> _Backends | None:
    """The backend copies of a fast tokenizer (made at its first call); None for others."""
    try:
        return _BACKENDS[tokenizer]
    except KeyError:
        pass
    except TypeError:  # neither hashable nor weakly referable: no place to keep copies
        return None
    source = getattr(tokenizer, "backend_tokenizer", None)
    if not isinstance(source, Backend):
        return None
    with _BACKENDS_LOCK:
        if tokenizer not in _BACKENDS:
            _BACKENDS[tokenizer] = _Backends(
                source,
                side=str(getattr(tokenizer, "truncation_side", "right")),
                split_special_tokens=bool(getattr(tokenizer, "split_special_tokens", False)),
            )
        return _BACKENDS[tokenizer]


def _tokenize_group_slow(
    tokenizer: Any, first: list[str], second: list[str] | None, max_length: int | None
) -> list[Tokenized]:
    """Through the tokenizer's ``__call__``: for tokenizers without a Rust backend."""
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


def token_strings(tokenizer: Any, items: Sequence[Tokenized]) -> list[tuple[str, ...]]:
    """Each input's tokens as strings, made once per call and kept for the answer."""
    return [tuple(tokenizer.convert_ids_to_tokens(item.input_ids.tolist())) for item in items]


def token_embeddings(
    items: Sequence[Tokenized],
    strings: Sequence[tuple[str, ...]],
    hidden: Sequence[FloatArray],
    unknown_id: int | None = None,
) -> list[TokenEmbeddings]:
    """Each input's token rows (``hidden[i]``: ``(n_tokens_i, d)``) with its tokens;
    ``unknown_id`` (the tokenizer's unknown token) is counted in ``unknown_tokens``."""
    return [
        TokenEmbeddings(
            embeddings=rows,
            tokens=tokens,
            token_ids=item.input_ids,
            offsets=item.offsets,
            special_mask=item.special_mask,
            segment_ids=item.token_type_ids,
            truncated=item.truncated,
            unknown_tokens=_count(item.input_ids, unknown_id),
        )
        for item, tokens, rows in zip(items, strings, hidden, strict=True)
    ]


def _count(token_ids: IntArray, wanted: int | None) -> int:
    return 0 if wanted is None else int(np.count_nonzero(token_ids == wanted))


def admit_tokens(
    items: Sequence[Tokenized], strings: Sequence[tuple[str, ...]], admit: Admit
) -> None:
    """Show ``admit`` every input's tokens before any model work: the answer's fields, with
    zero embedding columns. What it raises fails the call there."""
    columnless = [np.empty((len(item), 0), np.float32) for item in items]
    admit(token_embeddings(items, strings, columnless))
