"""The checkpoint's own classification head against plain transformers.

Tiny random ``BertForSequenceClassification`` checkpoints (``support.tiny_bert``) are loaded
by ``load_encoder`` and by transformers; the encoder's logits (its pooler output through the
head, in numpy) must equal ``model(**tokenizer(...)).logits`` to 1e-5, on the torch and the
OpenVINO engine.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from simsearch.encoder import BertEncoder, load_encoder
from simsearch.encoder.classifier_head import head_from_config, relevance_label
from simsearch.encoder.fingerprint import model_fingerprint
from simsearch.errors import FailedPreconditionError, InvalidArgumentError
from simsearch.types import ClassifierHead, Pooling, TextInput
from support.tiny_bert import NLI_LABELS, build_tiny_classifier

TOLERANCE = 1e-5
TEXTS = [
    "a man plays the guitar",
    "the cat sits on the mat",
    "people walk in the park on a nice day",
    "dogs",
]
PAIRS = [
    ("a man plays the guitar", "a man plays music"),
    ("the cat sits on the mat", "the dog runs in the street"),
    ("people walk in the park", "nobody is in the park"),
]


@pytest.fixture(scope="module")
def nli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny-nli"))


@pytest.fixture(scope="module")
def nli_encoder(nli_dir: Path) -> BertEncoder:
    return load_encoder(str(nli_dir), batch_size=2, engine="torch")


def reference_logits(directory: Path, inputs: list[TextInput]) -> np.ndarray:
    """Plain transformers: the saved classifier in eval mode, a padded batch."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(str(directory), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    assert not model.training
    if isinstance(inputs[0], tuple):
        batch = tokenizer(
            [a for a, _ in inputs], [b for _, b in inputs], padding=True, return_tensors="pt"
        )
    else:
        batch = tokenizer(list(inputs), padding=True, return_tensors="pt")
    with torch.no_grad():
        logits: np.ndarray = model(**batch).logits.numpy()
    return logits


def test_the_head_is_read_from_the_checkpoint(nli_encoder: BertEncoder) -> None:
    assert nli_encoder.info.head == ClassifierHead(
        NLI_LABELS, "single_label_classification", "entailment"
    )


@pytest.mark.parametrize("inputs", [TEXTS, PAIRS], ids=["texts", "pairs"])
def test_logits_equal_transformers(
    nli_encoder: BertEncoder, nli_dir: Path, inputs: list[TextInput]
) -> None:
    result = nli_encoder.classify(inputs, truncate=False)
    expected = reference_logits(nli_dir, inputs)
    np.testing.assert_allclose(result.logits, expected, atol=TOLERANCE)
    softmax = torch.softmax(torch.from_numpy(expected), dim=1).numpy()
    np.testing.assert_allclose(result.probabilities, softmax, atol=TOLERANCE)
    np.testing.assert_array_equal(result.label_ids, expected.argmax(axis=1))
    assert result.labels == tuple(NLI_LABELS[i] for i in expected.argmax(axis=1))
    assert result.logits.dtype == result.probabilities.dtype == np.float32
    assert len(set(result.labels)) > 1 or np.ptp(result.probabilities[:, 0]) > 0.01


def test_a_batch_classifies_as_each_input_alone(nli_encoder: BertEncoder) -> None:
    inputs: list[TextInput] = [*PAIRS, *PAIRS[:1]]
    batch = nli_encoder.classify(inputs, truncate=False)
    for i, item in enumerate(inputs):
        alone = nli_encoder.classify([item], truncate=False)
        np.testing.assert_allclose(batch.logits[i], alone.logits[0], atol=TOLERANCE)


def test_a_pair_is_encoded_jointly(nli_encoder: BertEncoder, nli_dir: Path) -> None:
    """A pair is not its first text, nor both texts as one segment: segment B counts."""
    a, b = PAIRS[0]
    pair = nli_encoder.classify([(a, b)], truncate=False).logits[0]
    first = nli_encoder.classify([a], truncate=False).logits[0]
    joined = nli_encoder.classify([f"{a} {b}"], truncate=False).logits[0]
    assert np.abs(pair - first).max() > 1e-3
    assert np.abs(pair - joined).max() > 1e-3
    np.testing.assert_allclose(pair, reference_logits(nli_dir, [(a, b)])[0], atol=TOLERANCE)
    swapped = nli_encoder.classify([(b, a)], truncate=False).logits[0]
    assert np.abs(pair - swapped).max() > 1e-3


def test_the_base_model_is_loaded_with_its_pooler(nli_encoder: BertEncoder, nli_dir: Path) -> None:
    """The ``bert.`` weights of the classifier checkpoint, pooler included, are the encoder's."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(str(nli_dir), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(nli_dir), local_files_only=True)
    with torch.no_grad():
        pooled = model.bert(**tokenizer(TEXTS, padding=True, return_tensors="pt")).pooler_output
    ours = nli_encoder.encode(TEXTS, Pooling.POOLER, normalize=False, truncate=False)
    np.testing.assert_allclose(ours.embeddings, pooled.numpy(), atol=TOLERANCE)


def test_truncated_pairs_are_listed(nli_encoder: BertEncoder) -> None:
    long = " ".join(["cat"] * 80)
    result = nli_encoder.classify([("a cat", "a dog"), ("a cat", long)], truncate=True)
    assert result.truncated == (1,)
    with pytest.raises(InvalidArgumentError, match="input 1 has 85 tokens"):
        nli_encoder.classify([("a cat", "a dog"), ("a cat", long)], truncate=False)


def test_a_model_without_a_head(tiny_encoder: BertEncoder) -> None:
    assert tiny_encoder.info.head is None
    with pytest.raises(FailedPreconditionError, match="no sequence-classification head"):
        tiny_encoder.classify(["a cat"], truncate=False)


def test_fingerprints(tiny_model_dir: Path, tiny_encoder: BertEncoder, nli_dir: Path) -> None:
    """Without a head the fingerprint is the base weights' and vocabulary's, as it always
    was; with one, the head's weights count too."""
    from transformers import AutoModel

    base = AutoModel.from_pretrained(str(tiny_model_dir), local_files_only=True)
    vocab = tiny_encoder._tokenizer.get_vocab()
    assert tiny_encoder.info.fingerprint == model_fingerprint(base.state_dict(), vocab)
    nli_base = AutoModel.from_pretrained(str(nli_dir), local_files_only=True)
    with_head = load_encoder(str(nli_dir), engine="torch")
    try:
        assert with_head.info.fingerprint != model_fingerprint(nli_base.state_dict(), vocab)
        again = load_encoder(str(nli_dir), engine="torch")
        assert again.info.fingerprint == with_head.info.fingerprint
        again.close()
    finally:
        with_head.close()


@pytest.mark.parametrize(
    ("labels", "problem_type", "expected_type", "relevance"),
    [
        (("LABEL_0", "LABEL_1"), None, "single_label_classification", "LABEL_1"),
        (("score",), None, "regression", "score"),
        (("a", "b", "c"), "multi_label_classification", "multi_label_classification", ""),
    ],
    ids=["binary", "regression", "multi-label"],
)
def test_other_heads(
    tmp_path: Path,
    labels: tuple[str, ...],
    problem_type: str | None,
    expected_type: str,
    relevance: str,
) -> None:
    directory = build_tiny_classifier(tmp_path / "model", labels, problem_type, seed=7)
    encoder = load_encoder(str(directory), engine="torch")
    try:
        assert encoder.info.head == ClassifierHead(labels, expected_type, relevance)
        result = encoder.classify(PAIRS, truncate=False)
        expected = reference_logits(directory, list(PAIRS))
        np.testing.assert_allclose(result.logits, expected, atol=TOLERANCE)
        if expected_type == "single_label_classification":
            probabilities = torch.softmax(torch.from_numpy(expected), dim=1)
        else:
            probabilities = torch.sigmoid(torch.from_numpy(expected))
        np.testing.assert_allclose(result.probabilities, probabilities.numpy(), atol=TOLERANCE)
    finally:
        encoder.close()


def test_the_openvino_engine_runs_the_same_head(
    nli_dir: Path, nli_encoder: BertEncoder, tmp_path: Path
) -> None:
    encoder = load_encoder(str(nli_dir), engine="openvino", cache_dir=tmp_path / "cache")
    try:
        assert encoder.info.engine == "openvino"
        assert encoder.info.head == nli_encoder.info.head
        assert encoder.info.fingerprint == nli_encoder.info.fingerprint
        for inputs in (TEXTS, PAIRS):
            result = encoder.classify(list(inputs), truncate=False)
            expected = reference_logits(nli_dir, list(inputs))
            np.testing.assert_allclose(result.logits, expected, atol=TOLERANCE)
    finally:
        encoder.close()


def test_a_head_read_from_pytorch_model_bin(nli_dir: Path, tmp_path: Path) -> None:
    """The older weights file: the head's two tensors are read from it alike."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(str(nli_dir), local_files_only=True)
    target = tmp_path / "bin"
    target.mkdir()
    model.config.save_pretrained(target)
    torch.save(
        {f"bert.{k}": v for k, v in model.bert.state_dict().items()}
        | {
            "classifier.weight": model.classifier.weight.detach(),
            "classifier.bias": model.classifier.bias.detach(),
        },
        target / "pytorch_model.bin",
    )
    AutoTokenizer.from_pretrained(str(nli_dir)).save_pretrained(target)
    encoder = load_encoder(str(target), engine="torch")
    try:
        result = encoder.classify(PAIRS, truncate=False)
        np.testing.assert_allclose(
            result.logits, reference_logits(nli_dir, list(PAIRS)), atol=TOLERANCE
        )
    finally:
        encoder.close()


# -- the relevance rule and which configs have a head ------------------------------------


@pytest.mark.parametrize(
    ("labels", "problem_type", "expected"),
    [
        (("contradiction", "neutral", "Entailment"), "single_label_classification", "Entailment"),
        (("not_entailment", "entailment"), "single_label_classification", "entailment"),
        (("LABEL_0", "LABEL_1"), "single_label_classification", "LABEL_1"),
        (("different", "paraphrase"), "single_label_classification", "paraphrase"),
        (("score",), "regression", "score"),
        (("positive", "negative", "neutral"), "single_label_classification", ""),
        (("a", "b"), "regression", ""),
    ],
)
def test_relevance_label_rule(labels: tuple[str, ...], problem_type: str, expected: str) -> None:
    assert relevance_label(labels, problem_type) == expected


def config(**fields: Any) -> SimpleNamespace:
    return SimpleNamespace(
        **{"architectures": None, "id2label": {0: "LABEL_0", 1: "LABEL_1"}, "problem_type": None}
        | fields
    )


def test_which_configs_have_a_head() -> None:
    assert head_from_config(config(architectures=["BertModel"])) is None
    assert head_from_config(config()) is None  # id2label alone is every config's default
    # A head over something else than the pooler output would compute wrong logits here.
    assert head_from_config(config(architectures=["RobertaForSequenceClassification"])) is None
    head = head_from_config(
        config(architectures=["BertForSequenceClassification"], id2label={"1": "b", "0": "a"})
    )
    assert head == ClassifierHead(("a", "b"), "single_label_classification", "b")
