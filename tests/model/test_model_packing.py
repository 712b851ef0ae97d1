"""The packed OpenVINO model computes what the padded one does (``encoder.packing``).

Both are converted from the tiny model and run by ``OpenVinoRunner`` on the same padded
batches: mixed lengths, pairs (segment B), an input at the model's max length, one text
alone. Tolerances are those of ``docs/engines.md`` against the padded model: float32
elementwise within 1e-4 on real tokens and the pooler; bf16 cosine >= 0.9995. Parity of the
packed engine with torch float32 is ``test_model_engines.py``'s (the engine packs by
default); the cache variant is checked at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from simsearch.encoder import load_encoder
from simsearch.encoder.batching import PaddedBatch
from simsearch.encoder.engines import model_input_names
from simsearch.encoder.openvino_convert import convert_to_openvino
from simsearch.encoder.openvino_runner import OpenVinoRunner, compile_for_cpu
from simsearch.encoder.packing import PACKED_INPUTS
from simsearch.encoder.precision import native_bf16
from simsearch.encoder.runner import ModelOutputs
from simsearch.types import Pooling
from support.reference import Reference, assert_close
from support.tiny_bert import CHINESE, ENGLISH_WORDS

F32_ATOL = 1e-4
BF16_MIN_COSINE = 0.9995

MIXED: list[Any] = [
    "the cat sits on the mat",
    "hello",
    ("what is the weather today", "the sun is nice today"),
    " ".join(ENGLISH_WORDS[:30]),
    "我喜欢北京",
    ("a dog", "他是中国人"),
    "x",
]
LONG = " ".join(ENGLISH_WORDS) + " " + "".join(CHINESE)  # truncated to the max length


def _batch(reference: Reference, texts: list[Any]) -> PaddedBatch:
    """``texts`` (strings and pairs) tokenized, truncated to the model's max length, padded."""
    encoded = reference.tokenizer(
        texts,
        padding=True,
        truncation=True,
        max_length=reference.model.config.max_position_embeddings,
        return_tensors="pt",
    )
    return PaddedBatch(encoded["input_ids"], encoded["token_type_ids"], encoded["attention_mask"])


@pytest.fixture(scope="module", params=["float32", "bfloat16"])
def runners(request: pytest.FixtureRequest, reference: Reference) -> tuple[Any, Any, str]:
    """(padded runner, packed runner, precision) for the tiny model."""
    bf16 = request.param == "bfloat16"
    if bf16 and not native_bf16(torch.device("cpu"))[0]:
        pytest.skip("this CPU has no native bf16")
    model = reference.model
    padded = convert_to_openvino(model, model_input_names(model))
    packed = convert_to_openvino(model, PACKED_INPUTS)
    return (
        OpenVinoRunner(compile_for_cpu(padded, bf16=bf16, threads=0)),
        OpenVinoRunner(compile_for_cpu(packed, bf16=bf16, threads=0)),
        request.param,
    )


def _assert_same(packed: ModelOutputs, padded: ModelOutputs, precision: str) -> None:
    mask = padded.attention_mask.bool()
    assert packed.last_hidden_state.shape == padded.last_hidden_state.shape
    assert packed.pooler_output is not None and padded.pooler_output is not None
    pairs = [
        (packed.last_hidden_state[mask], padded.last_hidden_state[mask]),  # token rows
        (packed.pooler_output, padded.pooler_output),
    ]
    for ours, theirs in pairs:
        if precision == "float32":
            assert_close(ours.numpy(), theirs.numpy(), atol=F32_ATOL)
        else:
            cosine = torch.nn.functional.cosine_similarity(ours, theirs, dim=-1)
            assert float(cosine.min()) >= BF16_MIN_COSINE
    # Padding comes back as zeros, never as another text's tokens.
    assert not packed.last_hidden_state[~mask].any()


@pytest.mark.parametrize(
    "texts",
    [MIXED, [MIXED[2]], ["hello"], [LONG, "hi", ("a", "b")], [LONG] * 3],
    ids=["mixed", "one-pair", "one-text", "max-length-and-short", "max-length-only"],
)
def test_packed_equals_padded(
    runners: tuple[Any, Any, str], reference: Reference, texts: list[Any]
) -> None:
    padded_runner, packed_runner, precision = runners
    assert packed_runner.packs and not padded_runner.packs
    batch = _batch(reference, texts)
    if texts[0] is LONG:
        assert batch.lengths[0] == reference.model.config.max_position_embeddings
    _assert_same(packed_runner.forward(batch), padded_runner.forward(batch), precision)


def test_packed_rows_do_not_see_each_other(
    runners: tuple[Any, Any, str], reference: Reference
) -> None:
    """A text packed beside others computes what it computes in a batch of its own."""
    _, packed_runner, precision = runners
    alone = packed_runner.forward(_batch(reference, ["the cat sits on the mat"]))
    together = packed_runner.forward(_batch(reference, MIXED))
    n = alone.attention_mask.shape[1]
    first = (together.last_hidden_state[0, :n], alone.last_hidden_state[0])
    if precision == "float32":
        assert_close(first[0].numpy(), first[1].numpy(), atol=F32_ATOL)
    else:
        cosine = torch.nn.functional.cosine_similarity(first[0], first[1], dim=-1)
        assert float(cosine.min()) >= BF16_MIN_COSINE


def test_the_engine_packs_bert_and_caches_a_variant_of_its_own(
    tiny_model_dir: Path, tmp_path: Path, forward_passes: list[int]
) -> None:
    encoder = load_encoder(
        str(tiny_model_dir), engine="openvino", dtype="float32", cache_dir=tmp_path
    )
    try:
        # Seven texts, batch_size 64: the packed plan runs them in one pass.
        encoder.encode(MIXED, Pooling.MEAN, normalize=True, truncate=False)
        assert forward_passes == [len(MIXED)]
    finally:
        encoder.close()
    entries = [p.name for p in (tmp_path / "openvino").iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1 and "-fp32-packed-ov" in entries[0]


def test_a_packed_model_without_a_pooler_returns_hidden_states_only(reference: Reference) -> None:
    """No pooler layer, no pooler output: the packed model traces without it."""
    from transformers import BertModel

    model = BertModel(reference.model.config, add_pooling_layer=False).eval()
    runner = OpenVinoRunner(
        compile_for_cpu(convert_to_openvino(model, PACKED_INPUTS), bf16=False, threads=0)
    )
    assert runner.packs and not runner.has_pooler
    outputs = runner.forward(_batch(reference, ["hello", "the cat"]))
    assert outputs.pooler_output is None
    assert np.isfinite(outputs.last_hidden_state.numpy()).all()
