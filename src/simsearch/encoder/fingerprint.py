"""A content hash of a model: its weights and its tokenizer vocabulary.

Collections record the fingerprint of the model that built them, so vectors from different
weights are never mixed. Identical weights and vocabulary give the same fingerprint on any
machine and device; changing any weight, dtype, shape or vocabulary entry changes it.

Engines and precisions whose vectors agree with float32 within the stated tolerances (torch
bfloat16; OpenVINO float32 and bfloat16, see ``docs/engines.md``) share this fingerprint, so a
collection opens under any of them. Variants that move vectors further (int8) get
:func:`variant_fingerprint`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import torch

__all__ = ["FINGERPRINT_CHARS", "model_fingerprint", "variant_fingerprint"]

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


def variant_fingerprint(fingerprint: str, *variant: str) -> str:
    """The fingerprint of a variant of the model whose vectors differ from float32's by more
    than the shared tolerance: sha256 over the fingerprint and the variant's parts, e.g.
    ``("int8-dynamic",)`` or ``("int8-static", calibration_hash)``."""
    text = "\0".join((fingerprint, *variant))
    return hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_CHARS]
