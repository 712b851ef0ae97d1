"""A content hash of a model: its weights and its tokenizer vocabulary.

Collections record the fingerprint of the model that built them, so vectors from different
weights are never mixed. Identical weights and vocabulary give the same fingerprint on any
machine and device; changing any weight, dtype, shape or vocabulary entry changes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import torch

__all__ = ["FINGERPRINT_CHARS", "model_fingerprint"]

FINGERPRINT_CHARS = 16


def model_fingerprint(state_dict: Mapping[str, torch.Tensor], vocab: Mapping[str, int]) -> str:
    """First ``FINGERPRINT_CHARS`` hex digits of a sha256 over weights and vocabulary.

    Tensors are hashed in name order as name, dtype, shape and raw bytes; the vocabulary as
    ``token -> id`` pairs in id order.
    """
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        _update_tensor(digest, name, state_dict[name])
    entries = sorted(vocab.items(), key=lambda item: (item[1], item[0]))
    digest.update(json.dumps(entries, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:FINGERPRINT_CHARS]


def _update_tensor(digest: hashlib._Hash, name: str, tensor: torch.Tensor) -> None:
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    header = f"{name}\0{flat.dtype}\0{tuple(tensor.shape)}\0"
    digest.update(header.encode("utf-8"))
    digest.update(flat.view(torch.uint8).numpy().data)
