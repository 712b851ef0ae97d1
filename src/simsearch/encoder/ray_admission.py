"""The ``admit`` step of token calls, run in the front-end before any work is sent to Ray.

``admit`` is a closure of the engine in the front (it refuses answers too large to send); it
cannot travel to a replica. So the front loads the model's tokenizer only (no weights),
tokenizes the inputs as a replica will (same tokenizer files, same ``max_length``, same rules:
``encoder.tokenization``) and shows ``admit`` the tokens, exactly as ``BertEncoder`` does
in-process. A refusal, or a too-long input, fails the call here, before any model work. The
replica tokenizes again when it encodes: tokenizing is a small share of a token call's cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simsearch.encoder.loading import ModelLoadError, load_tokenizer, resolve_model
from simsearch.encoder.options import EncoderOptions
from simsearch.encoder.tokenization import Admit, admit_tokens, token_strings, tokenize
from simsearch.types import TextInput

__all__ = ["Admission", "Admit", "load_admission"]


class Admission:
    """Tokenizes in the front and calls ``admit`` with every input's tokens."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self._tokenizer = tokenizer
        self._max_length = max_length

    def check(self, inputs: Sequence[TextInput], *, truncate: bool, admit: Admit) -> None:
        """Raise what tokenizing (an over-long input without ``truncate``) or ``admit``
        raises; return when the call may go to the replicas."""
        items = tokenize(self._tokenizer, inputs, max_length=self._max_length, truncate=truncate)
        admit_tokens(items, token_strings(self._tokenizer, items), admit)


def load_admission(options: EncoderOptions, max_length: int) -> Admission:
    """The tokenizer of ``options.model`` (fast, local files unless downloads are allowed)
    with the replicas' ``max_length``; ``ModelLoadError`` when it cannot be loaded here."""
    try:
        tokenizer = load_tokenizer(
            resolve_model(options.model), allow_download=options.allow_download
        )
    except ModelLoadError as exc:
        raise ModelLoadError(
            f"the front-end needs the model's tokenizer (to check token calls before they "
            f"reach the replicas): {exc}"
        ) from exc
    return Admission(tokenizer, max_length)
