"""The torch module traced into the packed OpenVINO model (``encoder.packing`` explains packing).

``PackedBert`` runs a transformers BERT's own embeddings, encoder and pooler, with the inputs
of a packed batch: position ids restart per text, and the attention mask is block-diagonal,
built in the graph from ``segment_ids`` (a token sees exactly the tokens of its own segment;
padding, segment 0, sees only padding, so no softmax row is empty). The pooler is applied to
each text's own first token (``cls_index``). The weights and every operation are the model's,
so a text computes what it computes alone, up to the order of floating-point sums.

Only BERT itself is packed (``packable``): other architectures number positions differently
(RoBERTa starts after the padding id) or take no position ids, and keep the padded model.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

__all__ = ["PackedBert", "packable"]


def packable(model: Any) -> bool:
    """Whether ``model`` is a BERT whose embeddings take position and token type ids."""
    if getattr(model.config, "model_type", None) != "bert":
        return False
    embeddings = getattr(model, "embeddings", None)
    if embeddings is None or getattr(model, "encoder", None) is None:
        return False
    parameters = inspect.signature(embeddings.forward).parameters
    return {"input_ids", "token_type_ids", "position_ids"} <= set(parameters)


class PackedBert(torch.nn.Module):
    """``model`` (a float32 transformers BERT, eval mode) over packed inputs.

    Returns ``(last_hidden_state (rows, width, d), pooler_output (b, d))``, or only the
    first when the model has no pooler.
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.bert = model

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor,
        position_ids: torch.Tensor,
        segment_ids: torch.Tensor,
        cls_index: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        embedded = self.bert.embeddings(
            input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids
        )
        same_text = segment_ids[:, None, :, None] == segment_ids[:, None, None, :]
        # Additive (rows, 1, width, width) mask: 0 within a text, the dtype's minimum across.
        mask = (~same_text).to(embedded.dtype) * torch.finfo(embedded.dtype).min
        hidden: torch.Tensor = self.bert.encoder(embedded, attention_mask=mask).last_hidden_state
        pooler = getattr(self.bert, "pooler", None)
        if pooler is None:
            return (hidden,)
        first_tokens = hidden.reshape(-1, hidden.shape[-1]).index_select(0, cls_index)
        return hidden, pooler.activation(pooler.dense(first_tokens))
