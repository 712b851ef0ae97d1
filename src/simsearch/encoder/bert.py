"""``BertEncoder``: sentence and token embeddings from a BERT-family model.

It satisfies the engine's ``Encoder`` protocol structurally. Per call: tokenize every input
in full (an over-long input fails the call before any model work, unless truncation is asked
for), sort by length into batches, run each batch, pool, and scatter rows back into input
order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from simsearch.encoder.batching import PaddedBatch, collate, plan_batches
from simsearch.encoder.fingerprint import model_fingerprint
from simsearch.encoder.loading import (
    load_pretrained,
    resolve_device,
    resolve_max_length,
    resolve_model,
)
from simsearch.encoder.pooling import l2_normalize, pool
from simsearch.encoder.runner import ModelRunner
from simsearch.encoder.tokenization import Tokenized, tokenize
from simsearch.errors import InvalidArgumentError
from simsearch.types import (
    FloatArray,
    ModelInfo,
    Pooling,
    SentenceEmbeddings,
    TextInput,
    TokenEmbeddings,
)

__all__ = ["BertEncoder", "load_encoder"]


def load_encoder(
    model: str,
    *,
    device: str = "cpu",
    max_length: int = 0,
    batch_size: int = 32,
    allow_download: bool = False,
) -> BertEncoder:
    """Load ``model`` ("default", a local directory or a hub id) and wrap it.

    Raises ``ModelLoadError`` (an ``OSError``) saying what was tried when it cannot be loaded.
    """
    loaded = load_pretrained(resolve_model(model), allow_download=allow_download)
    return BertEncoder(
        loaded.tokenizer,
        loaded.model,
        name=loaded.name,
        device=device,
        max_length=max_length,
        batch_size=batch_size,
    )


class BertEncoder:
    """Texts (or text pairs, as segments A and B) to vectors. Thread-safe.

    ``tokenizer`` must be a fast (Rust) tokenizer; ``model`` a transformers base model such as
    ``BertModel``. ``max_length`` 0 uses the model's own limit. Forward passes are serialised.
    """

    def __init__(
        self,
        tokenizer: Any,
        model: Any,
        *,
        name: str,
        device: str = "cpu",
        max_length: int = 0,
        batch_size: int = 32,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("BertEncoder needs a fast tokenizer (for character offsets)")
        torch_device = resolve_device(device)
        fingerprint = model_fingerprint(model.state_dict(), tokenizer.get_vocab())
        model.eval()
        model.to(torch_device)
        self._tokenizer = tokenizer
        self._tokenizer_lock = threading.Lock()
        self._runner = ModelRunner(model, torch_device)
        self._batch_size = batch_size
        self._pad_id = int(tokenizer.pad_token_id or 0)
        self._info = ModelInfo(
            name=name,
            fingerprint=fingerprint,
            hidden_size=int(model.config.hidden_size),
            max_length=resolve_max_length(max_length, tokenizer, model.config),
            vocab_size=len(tokenizer),
            device=str(torch_device),
            poolings=tuple(p for p in Pooling if p is not Pooling.POOLER or self.has_pooler),
        )

    def __repr__(self) -> str:
        return f"BertEncoder(name={self._info.name!r}, device={self._info.device!r})"

    @property
    def info(self) -> ModelInfo:
        """Name, fingerprint, hidden size, maximum tokens per input, vocabulary size, device."""
        return self._info

    @property
    def has_pooler(self) -> bool:
        """Whether ``Pooling.POOLER`` is available (the model has a trained pooler layer)."""
        return self._runner.has_pooler

    def encode(
        self,
        inputs: Sequence[TextInput],
        pooling: Pooling,
        *,
        normalize: bool,
        truncate: bool,
    ) -> SentenceEmbeddings:
        """Sentence embeddings ``(n, d) float32``, row i for ``inputs[i]``.

        ``normalize``: rows scaled to unit L2 norm. ``truncated``: indices of inputs cut to
        ``info.max_length``; without ``truncate`` such an input raises ``InvalidArgumentError``.
        """
        pooling = self._check_pooling(pooling)
        items = self._tokenize(inputs, truncate)
        embeddings, _ = self._run(items, pooling, normalize=normalize, tokens=False)
        return SentenceEmbeddings(embeddings, _truncated(items))

    def encode_tokens(
        self, inputs: Sequence[TextInput], *, truncate: bool
    ) -> list[TokenEmbeddings]:
        """``last_hidden_state`` per input, padding removed, with tokens, offsets and masks.

        Same truncation rule as :meth:`encode`; ``TokenEmbeddings.truncated`` marks cut inputs.
        """
        items = self._tokenize(inputs, truncate)
        _, tokens = self._run(items, None, normalize=False, tokens=True)
        return tokens

    def encode_with_tokens(
        self, inputs: Sequence[TextInput], pooling: Pooling, *, truncate: bool
    ) -> tuple[SentenceEmbeddings, list[TokenEmbeddings]]:
        """Normalised sentence embeddings and token embeddings, from one forward pass."""
        pooling = self._check_pooling(pooling)
        items = self._tokenize(inputs, truncate)
        embeddings, tokens = self._run(items, pooling, normalize=True, tokens=True)
        return SentenceEmbeddings(embeddings, _truncated(items)), tokens

    def _run(
        self,
        items: Sequence[Tokenized],
        pooling: Pooling | None,
        *,
        normalize: bool,
        tokens: bool,
    ) -> tuple[FloatArray, list[TokenEmbeddings]]:
        """Forward every batch; pool (when ``pooling``) and/or cut token rows (when ``tokens``)."""
        embeddings = np.zeros((len(items), self._info.hidden_size), dtype=np.float32)
        per_input: dict[int, TokenEmbeddings] = {}
        with torch.inference_mode():
            for batch in self._batches(items):
                outputs = self._runner.forward(batch)
                if pooling is not None:
                    vectors = pool(
                        pooling,
                        outputs.last_hidden_state,
                        outputs.attention_mask,
                        outputs.pooler_output,
                    )
                    if normalize:
                        vectors = l2_normalize(vectors)
                    embeddings[list(batch.indices)] = _to_numpy(vectors)
                if tokens:
                    hidden = _to_numpy(outputs.last_hidden_state)
                    for row, index in enumerate(batch.indices):
                        per_input[index] = self._token_embeddings(items[index], hidden[row])
        return embeddings, [per_input[i] for i in range(len(per_input))]

    def _check_pooling(self, pooling: Pooling | str) -> Pooling:
        try:
            pooling = Pooling(pooling)
        except ValueError:
            raise InvalidArgumentError(
                f"unknown pooling {pooling!r}; use pooler, cls or mean"
            ) from None
        if pooling is Pooling.POOLER and not self.has_pooler:
            raise InvalidArgumentError(
                f"model {self._info.name!r} has no pooler layer: ask for pooling 'cls' or 'mean'"
            )
        return pooling

    def _tokenize(self, inputs: Sequence[TextInput], truncate: bool) -> list[Tokenized]:
        with self._tokenizer_lock:
            return tokenize(
                self._tokenizer, inputs, max_length=self._info.max_length, truncate=truncate
            )

    def _batches(self, items: Sequence[Tokenized]) -> Iterator[PaddedBatch]:
        for indices in plan_batches([len(item) for item in items], self._batch_size):
            yield collate(items, indices, self._pad_id)

    def _token_embeddings(self, item: Tokenized, hidden: FloatArray) -> TokenEmbeddings:
        """One input's token rows; ``hidden`` is its ``(L, d)`` padded batch row."""
        tokens = self._tokenizer.convert_ids_to_tokens(item.input_ids.tolist())
        return TokenEmbeddings(
            embeddings=hidden[: len(item)].copy(),
            tokens=tuple(tokens),
            token_ids=item.input_ids,
            offsets=item.offsets,
            special_mask=item.special_mask,
            segment_ids=item.token_type_ids,
            truncated=item.truncated,
        )


def _truncated(items: Sequence[Tokenized]) -> tuple[int, ...]:
    return tuple(i for i, item in enumerate(items) if item.truncated)


def _to_numpy(tensor: torch.Tensor) -> FloatArray:
    """A CPU ``float32`` copy of ``tensor`` as numpy."""
    array: FloatArray = tensor.detach().to("cpu", torch.float32).numpy()
    return array
