"""A tiny random BERT with a pooler and a fast tokenizer, written to a directory; or the same
with a sequence-classification head (``BertForSequenceClassification``, saved with its
``id2label`` and ``problem_type``).

The vocabulary has the special tokens, every lowercase letter and digit (also as ``##``
wordpieces, so any ASCII word tokenizes without ``[UNK]``), common English words,
punctuation and common Chinese characters (tokenized one per character, as
bert-base-chinese does). Weights come from a fixed seed: the same on every run.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SEED = 1234
NLI_LABELS = ("entailment", "neutral", "contradiction")
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_ENGLISH = """
the a an and or of to in on at for with by from is are was were be been it this that
these those he she they we you i my your his her their our not no yes all some one two
three cat cats dog dogs man men woman women child children boy girl people person sits
sit sat on mat table chair plays play playing runs run running walks walk walking eats
eat eating food apple apples ball guitar music piano street park city beach water river
sky sun rain weather good bad nice great small big little long short quick brown fox
jumps over lazy day night today tomorrow model models language sentence sentences text
search vector vectors embedding embeddings query document what where when how why who
hello world beijing shanghai china learn learning study likes like love
"""
ENGLISH_WORDS = _ENGLISH.split()
WORDPIECES = ["##s", "##ing", "##ed", "##er", "##ly", "##est"]
PUNCTUATION = list(".,;:!?'\"()-/")
CHINESE = list(
    "我你他她它们是的在有人中国北京上海天气很好喜欢学习语言模型"
    "大小不了和这那个一二三四五六七八九十年月日今明"
    "吃饭喝水看书说话家里去来到会能要想爱"
)


def tiny_vocab() -> list[str]:
    """The vocabulary, in id order, without duplicates."""
    letters = list(string.ascii_lowercase + string.digits)
    pieces = [f"##{c}" for c in letters]
    tokens = SPECIAL_TOKENS + ENGLISH_WORDS + WORDPIECES + letters + pieces + PUNCTUATION + CHINESE
    return list(dict.fromkeys(tokens))


def build_tiny_bert(path: Path) -> Path:
    """Write the tiny model (``BertModel`` with pooler) and its tokenizer into ``path``.

    Hidden size 32, 2 layers, 2 heads, intermediate 64, 64 positions (so the encoder's
    max_length is 64). Returns ``path``.
    """
    import torch
    from transformers import BertModel

    config = _tiny_config(path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = BertModel(config, add_pooling_layer=True)
    model.save_pretrained(path)
    return _save_tokenizer(path)


def build_tiny_classifier(
    path: Path,
    labels: Sequence[str] = NLI_LABELS,
    problem_type: str | None = "single_label_classification",
    *,
    seed: int = SEED,
) -> Path:
    """Write a tiny ``BertForSequenceClassification`` (the tiny BERT's shape, a head of
    ``labels`` saved as ``id2label``; ``problem_type`` None leaves it out of the config, for
    transformers' inference) and its tokenizer into ``path``. Returns ``path``."""
    import torch
    from transformers import BertForSequenceClassification

    config = _tiny_config(
        path,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        problem_type=problem_type,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertForSequenceClassification(config)
        with torch.no_grad():  # a head that tells inputs apart (BERT's init is near zero)
            model.classifier.weight.normal_(0.0, 1.0)
            model.classifier.bias.normal_(0.0, 0.5)
    model.save_pretrained(path)
    return _save_tokenizer(path)


def _tiny_config(path: Path, **extra: Any) -> Any:
    """The tiny BERT's config; writes the vocabulary into ``path``."""
    from transformers import BertConfig

    path.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab()
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        initializer_range=0.2,  # larger than BERT's 0.02, so different texts differ clearly
        **extra,
    )


def _save_tokenizer(path: Path) -> Path:
    from transformers import AutoTokenizer

    vocab = tiny_vocab()
    # With config.json (model_type bert) and vocab.txt in place, AutoTokenizer builds a
    # BertTokenizerFast from the vocabulary on transformers 4 and 5 alike (the constructor's
    # vocabulary argument changed name between them); saving writes tokenizer.json.
    tokenizer = AutoTokenizer.from_pretrained(str(path), do_lower_case=True)
    if not tokenizer.is_fast or len(tokenizer) != len(vocab):
        raise RuntimeError(f"tiny tokenizer not built as expected: {tokenizer!r}")
    tokenizer.save_pretrained(path)
    return path


def change_tiny_bert_weights(path: Path) -> Path:
    """Rewrite the model in ``path`` with one weight changed (the tokenizer stays): a new
    checkpoint, so a new fingerprint, at the same place. Returns ``path``."""
    import torch
    from transformers import BertModel

    model = BertModel.from_pretrained(str(path), local_files_only=True)
    weight = model.encoder.layer[0].intermediate.dense.weight
    noise = torch.randn(weight.shape, generator=torch.Generator().manual_seed(SEED))
    with torch.no_grad():
        weight += 0.5 * noise
    model.save_pretrained(path)
    return path
