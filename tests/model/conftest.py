"""Fixtures for the model tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.reference import Reference


@pytest.fixture(scope="session")
def reference(tiny_model_dir: Path) -> Reference:
    """The tiny model and tokenizer loaded with plain transformers (no simsearch code)."""
    from transformers import AutoTokenizer, BertModel

    # from_pretrained returns the model in eval mode (no dropout).
    model = BertModel.from_pretrained(str(tiny_model_dir), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir), local_files_only=True)
    assert tokenizer.is_fast and not model.training
    return Reference(tokenizer, model)
