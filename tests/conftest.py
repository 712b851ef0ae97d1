"""Session fixtures shared by every test folder.

``tests/`` is put on ``sys.path`` so ``from support.tiny_bert import build_tiny_bert`` works
under any import mode. torch and transformers are imported only by the fixtures that need
them, so unit tests run without them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from support.folders import FOLDER_MARKERS  # noqa: E402  (tests/ is on the path from here)

if TYPE_CHECKING:
    from simsearch.encoder import BertEncoder
    from simsearch.index import FaissCatalog


MODEL_CACHE_ENV = "SIMSEARCH_MODEL_CACHE_DIR"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its folder's name, so ``pytest -m unit`` (or ``-m "not scaleout"``)
    picks a folder's tests wherever they are run from."""
    for item in items:
        parts = Path(str(item.path)).relative_to(_TESTS).parts
        if len(parts) > 1 and parts[0] in FOLDER_MARKERS:
            item.add_marker(parts[0])


@pytest.fixture(scope="session", autouse=True)
def shared_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cache of converted models for every server the tests start, in this process or as
    a child (through the environment): converting the tiny model costs ~2 s a start, loading
    it from the cache 0.2 s. The cache's own tests use directories of their own."""
    path = tmp_path_factory.mktemp("model-cache")
    previous = os.environ.get(MODEL_CACHE_ENV)
    os.environ[MODEL_CACHE_ENV] = str(path)
    yield path
    if previous is None:
        os.environ.pop(MODEL_CACHE_ENV, None)
    else:
        os.environ[MODEL_CACHE_ENV] = previous


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a tiny random BERT (with pooler) and its fast tokenizer."""
    from support.tiny_bert import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir: Path) -> BertEncoder:
    """A ``BertEncoder`` on the tiny model (max_length 64, batch_size 4 to exercise batching)."""
    from simsearch.encoder import load_encoder

    return load_encoder(str(tiny_model_dir), batch_size=4)


@pytest.fixture(scope="session")
def default_encoder() -> BertEncoder:
    """A ``BertEncoder`` on the bundled all-MiniLM-L6-v2 (loaded once per session)."""
    from simsearch.encoder import load_encoder

    return load_encoder("default")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The data directory of the test's ``catalog`` (not created yet)."""
    return tmp_path / "data"


@pytest.fixture
def catalog(data_dir: Path) -> Iterator[FaissCatalog]:
    """An empty FAISS catalog in ``data_dir``, closed after the test. It writes no checkpoint
    while the test runs (``checkpoint_every`` 10**6), so a test decides when snapshots
    happen; reopen ``FaissCatalog(data_dir)`` to see what a restart sees."""
    from simsearch.index import FaissCatalog

    catalog = FaissCatalog(data_dir, checkpoint_every=10**6)
    yield catalog
    catalog.close()


@pytest.fixture
def forward_passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows of every forward pass of any model while the test runs (an empty list: the model
    never ran)."""
    from simsearch.encoder.batching import PaddedBatch
    from simsearch.encoder.runner import ModelOutputs, ModelRunner

    passes: list[int] = []
    original = ModelRunner.forward

    def counted(self: ModelRunner, batch: PaddedBatch) -> ModelOutputs:
        passes.append(len(batch.lengths))
        return original(self, batch)

    monkeypatch.setattr(ModelRunner, "forward", counted)
    return passes
