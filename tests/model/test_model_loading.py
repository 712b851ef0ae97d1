"""Loading, model info, fingerprints and input validation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from simsearch.encoder import BertEncoder, ModelLoadError, load_encoder
from simsearch.errors import InvalidArgumentError
from simsearch.types import Pooling, TextInput


def test_info(tiny_encoder: BertEncoder, tiny_model_dir: Path) -> None:
    from support.tiny_bert import tiny_vocab

    info = tiny_encoder.info
    assert info.name == str(tiny_model_dir)
    assert info.hidden_size == 32
    assert info.max_length == 64
    assert info.vocab_size == len(tiny_vocab())
    assert info.device == "cpu"
    assert len(info.fingerprint) == 16
    int(info.fingerprint, 16)


def test_fingerprint_is_stable_across_loads(
    tiny_encoder: BertEncoder, tiny_model_dir: Path
) -> None:
    again = load_encoder(str(tiny_model_dir), max_length=16, batch_size=2)
    assert again.info.fingerprint == tiny_encoder.info.fingerprint


def _copy_with(source: Path, target: Path, change: str) -> Path:
    """A copy of the model with one weight nudged, or one vocabulary entry renamed."""
    from transformers import BertModel

    shutil.copytree(source, target)
    if change == "weight":
        model = BertModel.from_pretrained(str(source), local_files_only=True)
        with torch.no_grad():
            model.get_parameter("encoder.layer.1.output.dense.weight")[3, 5] += 1e-3
        model.save_pretrained(target)
    else:
        vocab = (source / "vocab.txt").read_text(encoding="utf-8").replace("\nfox\n", "\nfax\n")
        (target / "vocab.txt").write_text(vocab, encoding="utf-8")
        (target / "tokenizer.json").unlink()
    return target


@pytest.mark.parametrize("change", ["weight", "vocabulary"])
def test_fingerprint_changes_with_the_model(
    tiny_encoder: BertEncoder, tiny_model_dir: Path, tmp_path: Path, change: str
) -> None:
    changed = _copy_with(tiny_model_dir, tmp_path / "changed", change)
    assert load_encoder(str(changed)).info.fingerprint != tiny_encoder.info.fingerprint


def test_model_without_pooler_refuses_pooler_pooling(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import BertModel

    target = tmp_path / "no-pooler"
    shutil.copytree(tiny_model_dir, target)
    model = BertModel.from_pretrained(str(tiny_model_dir), local_files_only=True)
    BertModel(model.config, add_pooling_layer=False).save_pretrained(target)
    encoder = load_encoder(str(target))
    assert not encoder.has_pooler
    with pytest.raises(InvalidArgumentError, match="no pooler"):
        encoder.encode(["hello"], Pooling.POOLER, normalize=True, truncate=False)
    assert encoder.encode(["hello"], Pooling.MEAN, normalize=True, truncate=False).truncated == ()
    # Fingerprint must not depend on the randomly initialised pooler transformers adds.
    assert load_encoder(str(target)).info.fingerprint == encoder.info.fingerprint


def test_missing_model_says_what_was_tried() -> None:
    with pytest.raises(ModelLoadError) as caught:
        load_encoder("no-such-org/no-such-model")
    message = str(caught.value)
    assert "'no-such-org/no-such-model'" in message
    assert "--allow-download" in message
    assert isinstance(caught.value, OSError)


def test_missing_directory_says_what_was_tried(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="local directory"):
        load_encoder(str(empty))


def test_unusable_device_fails_at_load(tiny_model_dir: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelLoadError, match="CUDA"):
        load_encoder(str(tiny_model_dir), device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(tiny_encoder: BertEncoder, tiny_model_dir: Path) -> None:
    from support.reference import assert_close

    on_gpu = load_encoder(str(tiny_model_dir), device="cuda")
    assert on_gpu.info.device == "cuda"
    assert on_gpu.info.fingerprint == tiny_encoder.info.fingerprint
    texts: list[TextInput] = ["hello world", ("a cat", "我喜欢北京")]
    for pooling in Pooling:
        gpu = on_gpu.encode(texts, pooling, normalize=True, truncate=False).embeddings
        cpu = tiny_encoder.encode(texts, pooling, normalize=True, truncate=False).embeddings
        assert_close(gpu, cpu, atol=1e-4)


def test_batch_size_must_be_positive(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        load_encoder(str(tiny_model_dir), batch_size=0)


@pytest.mark.parametrize("bad", [None, 3, ("only one",), ("a", 2), ["a", "b"]])
def test_bad_input_type_is_invalid_argument(tiny_encoder: BertEncoder, bad: object) -> None:
    inputs: list[TextInput] = ["ok", bad]  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="input 1"):
        tiny_encoder.encode(inputs, Pooling.MEAN, normalize=True, truncate=False)


def test_unknown_pooling_is_invalid_argument(tiny_encoder: BertEncoder) -> None:
    with pytest.raises(InvalidArgumentError, match="pooling"):
        tiny_encoder.encode(["ok"], "max", normalize=True, truncate=False)  # type: ignore[arg-type]
