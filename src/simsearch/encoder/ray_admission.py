"""The ``admit`` step of token calls, run in the front-end before any work is sent to Ray.

``admit`` is a closure of the engine in the front (it refuses answers too large to send); it
cannot travel to a replica. So the front loads the model's tokenizer only (no weights),
tokenizes the inputs as a replica will (same tokenizer files, same ``max_length``, same rules:
``encoder.tokenization``) and shows ``admit`` the tokens, exactly as ``BertEncoder`` does
in-process. A refusal, or a too-long input, fails the call here, before any model work. The
replica tokenizes again when it encodes: tokenizing is a small share of a token call's cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from simsearch.encoder.loading import ModelLoadError, resolve_model
from simsearch.encoder.options import EncoderOptions
from simsearch.encoder.tokenization import tokenize
from simsearch.types import TextInput, TokenEmbeddings

__all__ = ["Admission", "load_admission"]

Admit = Callable[[Sequence[TokenEmbeddings]], None]


class Admission:
    """Tokenizes in the front and calls ``admit`` with every input's tokens."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self._tokenizer = tokenizer
        self._max_length = max_length

    def check(self, inputs: Sequence[TextInput], *, truncate: bool, admit: Admit) -> None:
        """Raise what tokenizing (an over-long input without ``truncate``) or ``admit``
        raises; return when the call may go to the replicas."""
        items = tokenize(self._tokenizer, inputs, max_length=self._max_length, truncate=truncate)
        admit(
            [
                TokenEmbeddings(
                    embeddings=np.empty((len(item), 0), np.float32),
                    tokens=tuple(self._tokenizer.convert_ids_to_tokens(item.input_ids.tolist())),
                    token_ids=item.input_ids,
                    offsets=item.offsets,
                    special_mask=item.special_mask,
                    segment_ids=item.token_type_ids,
                    truncated=item.truncated,
                )
                for item in items
            ]
        )


def load_admission(options: EncoderOptions, max_length: int) -> Admission:
    """The tokenizer of ``options.model`` (fast, local files unless downloads are allowed)
    with the replicas' ``max_length``; ``ModelLoadError`` when it cannot be loaded here."""
    from transformers import AutoTokenizer

    source = resolve_model(options.model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source.location, use_fast=True, local_files_only=not options.allow_download
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"the front-end needs the tokenizer of {source.name!r} (to check token calls "
            f"before they reach the replicas) and could not load it: {exc}"
        ) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"model {source.name!r} has no fast tokenizer")
    return Admission(tokenizer, max_length)
