"""What loading a model writes to the server's log: no progress bars."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_loading_the_weights_draws_no_progress_bar(
    tiny_model_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from transformers.utils import logging as transformers_logging

    from simsearch.encoder.loading import load_pretrained, resolve_model

    assert transformers_logging.is_progress_bar_enabled()  # else this test proves nothing
    load_pretrained(resolve_model(str(tiny_model_dir)), allow_download=False)
    assert "Loading weights" not in capfd.readouterr().err
    assert transformers_logging.is_progress_bar_enabled()  # left as it was found
