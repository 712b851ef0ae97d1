"""A checkpoint's sequence-classification head, read from its files and run in numpy.

A ``BertForSequenceClassification`` checkpoint is the base model (loaded as usual, prefix
``bert.`` stripped by transformers, pooler included) plus one linear layer over the pooler
output: ``classifier.weight`` ``(labels, hidden)`` and ``classifier.bias`` ``(labels,)``. Only
those two tensors are read here (safetensors or ``pytorch_model.bin``, sharded or not); no
second model is loaded. The head then runs on the pooler output the encoder computes anyway,
on either engine: ``logits = pooler_output @ W.T + b`` in float32.

Which architectures count: those whose head is exactly that linear layer over the pooler
(:data:`POOLER_HEADS`). Others (RoBERTa's two-layer head over ``<s>``, DistilBERT's over
[CLS]) compute something else, so they get no head rather than a wrong one.

The relevance label (what a cross-encoder rerank ranks by), in order:

1. a label named "entailment" (any case): NLI heads;
2. with exactly two labels, the label with id 1 (``LABEL_1``, "paraphrase", "duplicate" ...):
   binary heads put the positive class second;
3. for a regression head, its only label;
4. otherwise none (""): a rerank is then refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from simsearch.types import Classifications, ClassifierHead, FloatArray

__all__ = [
    "HEAD_TENSORS",
    "POOLER_HEADS",
    "HeadWeights",
    "head_from_config",
    "read_head",
    "relevance_label",
]

logger = logging.getLogger(__name__)

WEIGHT, BIAS = "classifier.weight", "classifier.bias"
HEAD_TENSORS = (WEIGHT, BIAS)
# Architectures whose logits are classifier(dropout(pooler_output)), checked in transformers'
# source: the head runs on the pooler output as it is here.
POOLER_HEADS = frozenset(
    {
        "BertForSequenceClassification",
        "ErnieForSequenceClassification",
        "MegatronBertForSequenceClassification",
        "MobileBertForSequenceClassification",
    }
)
SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
REGRESSION = "regression"
_ENTAILMENT = "entailment"
# Checkpoint files, whole or sharded (an index maps each tensor to its shard).
_FILES = (
    ("model.safetensors", "model.safetensors.index.json"),
    ("pytorch_model.bin", "pytorch_model.bin.index.json"),
)


@dataclass(frozen=True)
class HeadWeights:
    """The head's description and weights: ``weight`` ``(labels, hidden) float32``,
    ``bias`` ``(labels,) float32``."""

    head: ClassifierHead
    weight: FloatArray
    bias: FloatArray

    def tensors(self) -> dict[str, torch.Tensor]:
        """The weights by checkpoint name, for the model fingerprint."""
        return {WEIGHT: torch.from_numpy(self.weight), BIAS: torch.from_numpy(self.bias)}

    def classify(self, pooled: FloatArray, truncated: tuple[int, ...] = ()) -> Classifications:
        """Logits, probabilities and the most probable label of each row of ``pooled``
        (``(n, hidden)``, the raw pooler output)."""
        logits = (np.asarray(pooled, np.float32) @ self.weight.T + self.bias).astype(np.float32)
        probabilities = probabilities_of(logits, self.head.problem_type)
        label_ids = np.argmax(probabilities, axis=1).astype(np.int64)
        labels = tuple(self.head.labels[i] for i in label_ids)
        return Classifications(logits, probabilities, label_ids, labels, truncated)


def probabilities_of(logits: FloatArray, problem_type: str) -> FloatArray:
    """Softmax over the labels for single-label classification; else each label's sigmoid
    (multi-label, regression), as transformers' losses read the logits."""
    if problem_type == SINGLE_LABEL:
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        softmax: FloatArray = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
        return softmax
    sigmoid: FloatArray = (0.5 * (1.0 + np.tanh(0.5 * logits))).astype(np.float32)  # no overflow
    return sigmoid


def relevance_label(labels: Sequence[str], problem_type: str) -> str:
    """The label a cross-encoder rerank ranks by; see the module docstring for the rule."""
    for label in labels:
        if label.lower() == _ENTAILMENT:
            return label
    if len(labels) == 2 and problem_type != REGRESSION:
        return labels[1]
    if problem_type == REGRESSION and len(labels) == 1:
        return labels[0]
    return ""


def head_from_config(config: Any) -> ClassifierHead | None:
    """The head ``config`` describes, or None when its architecture has no head run here."""
    architectures = list(getattr(config, "architectures", None) or [])
    if not any(name.endswith("ForSequenceClassification") for name in architectures):
        return None
    if not POOLER_HEADS.intersection(architectures):
        logger.warning(
            "the model's architecture %s has a classification head simsearch does not run "
            "(only a linear layer over the pooler output: %s); Classify is off",
            ", ".join(architectures),
            ", ".join(sorted(POOLER_HEADS)),
        )
        return None
    id2label = {int(i): str(label) for i, label in dict(config.id2label).items()}
    labels = tuple(id2label[i] for i in sorted(id2label))
    problem_type = config.problem_type or (REGRESSION if len(labels) == 1 else SINGLE_LABEL)
    return ClassifierHead(labels, problem_type, relevance_label(labels, problem_type))


def read_head(
    location: str, config: Any, *, hidden: int, allow_download: bool
) -> HeadWeights | None:
    """The head of the checkpoint at ``location`` (a directory or hub id, as given to
    ``from_pretrained``), or None (logged) when it has none that runs here."""
    head = head_from_config(config)
    if head is None:
        return None
    tensors = _read_tensors(location, HEAD_TENSORS, local_only=not allow_download)
    weight, bias = tensors.get(WEIGHT), tensors.get(BIAS)
    expected = ((len(head.labels), hidden), (len(head.labels),))
    if weight is None or bias is None or (weight.shape, bias.shape) != expected:
        logger.warning(
            "the model's config names a classification head of %d labels, but its checkpoint "
            "has no %s of shapes %s and %s; Classify is off",
            len(head.labels),
            " and ".join(HEAD_TENSORS),
            expected[0],
            expected[1],
        )
        return None
    return HeadWeights(head, weight, bias)


def _read_tensors(
    location: str, names: Sequence[str], *, local_only: bool
) -> dict[str, FloatArray]:
    """``names`` from the checkpoint's weights files, as float32 arrays (those found)."""
    for whole, index in _FILES:
        path = _checkpoint_file(location, whole, local_only)
        if path is not None:
            return _tensors_in(path, names)
        index_path = _checkpoint_file(location, index, local_only)
        if index_path is not None:
            return _sharded_tensors(location, index_path, names, local_only)
    return {}


def _sharded_tensors(
    location: str, index_path: str, names: Sequence[str], local_only: bool
) -> dict[str, FloatArray]:
    with open(index_path, encoding="utf-8") as file:
        weight_map: Mapping[str, str] = json.load(file).get("weight_map", {})
    found: dict[str, FloatArray] = {}
    for shard in sorted({weight_map[name] for name in names if name in weight_map}):
        path = _checkpoint_file(location, shard, local_only)
        if path is not None:
            found.update(_tensors_in(path, [n for n in names if weight_map.get(n) == shard]))
    return found


def _checkpoint_file(location: str, name: str, local_only: bool) -> str | None:
    """The local path of one of the checkpoint's files (from the hub cache for a hub id), or
    None when it has no such file."""
    from transformers.utils.hub import cached_file

    path: str | None = cached_file(
        location,
        name,
        local_files_only=local_only,
        _raise_exceptions_for_missing_entries=False,
        _raise_exceptions_for_connection_errors=False,
    )
    return path


def _tensors_in(path: str, names: Sequence[str]) -> dict[str, FloatArray]:
    """``names`` from one weights file (only those tensors are read from a safetensors file;
    a ``.bin`` is memory-mapped where its format allows)."""
    if path.endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(path, framework="pt") as file:
            present = set(file.keys())
            return {name: _float32(file.get_tensor(name)) for name in names if name in present}
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # the legacy (non-zip) format cannot be memory-mapped
        state = torch.load(path, map_location="cpu", weights_only=True)
    return {name: _float32(state[name]) for name in names if name in state}


def _float32(tensor: torch.Tensor) -> FloatArray:
    array: FloatArray = tensor.detach().to(torch.float32).contiguous().numpy().copy()
    return array
