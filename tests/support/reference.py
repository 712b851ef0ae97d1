"""Reference outputs: the tiny model run directly with transformers, one input at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from simsearch.types import FloatArray, TextInput


@dataclass(frozen=True)
class Reference:
    """The tiny model run directly with transformers, one input at a time, no batching."""

    tokenizer: Any
    model: Any

    def outputs(self, text: TextInput, **tokenize: Any) -> tuple[Any, Any]:
        """The tokenizer's encoding and the model's outputs for one input."""
        first, second = (text, None) if isinstance(text, str) else text
        encoding = self.tokenizer(first, text_pair=second, return_tensors="pt", **tokenize)
        with torch.inference_mode():
            return encoding, self.model(**encoding)

    def pooler(self, text: TextInput, **tokenize: Any) -> FloatArray:
        return _row(self.outputs(text, **tokenize)[1].pooler_output[0])

    def cls(self, text: TextInput, **tokenize: Any) -> FloatArray:
        return _row(self.outputs(text, **tokenize)[1].last_hidden_state[0, 0])

    def mean(self, text: TextInput, **tokenize: Any) -> FloatArray:
        encoding, outputs = self.outputs(text, **tokenize)
        mask = encoding["attention_mask"][0].unsqueeze(-1).float()
        hidden = outputs.last_hidden_state[0]
        return _row((hidden * mask).sum(0) / mask.sum())

    def tokens(self, text: TextInput, **tokenize: Any) -> FloatArray:
        return _row(self.outputs(text, **tokenize)[1].last_hidden_state[0])


def _row(tensor: torch.Tensor) -> FloatArray:
    array: FloatArray = tensor.detach().float().numpy()
    return array


def assert_close(actual: Any, expected: Any, atol: float = 1e-5) -> None:
    """Elementwise equal to ``atol`` (absolute; the vectors are of order 1)."""
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=0, atol=atol)
