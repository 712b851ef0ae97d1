"""What classification needs of the loaded model: a sequence-classification head, and for a
cross-encoder rerank a label to read relevance from (``ClassifierHead.relevance_label``).

Both are checked before any model work; a model without them answers FAILED_PRECONDITION
saying what the checkpoint lacks.
"""

from __future__ import annotations

from simsearch.errors import FailedPreconditionError
from simsearch.types import ClassifierHead, ModelInfo

__all__ = ["relevance_index", "require_head"]

_WHAT_A_HEAD_IS = (
    "a checkpoint saved as BertForSequenceClassification (config.json: 'architectures' naming "
    "it and 'id2label' its labels; weights classifier.weight and classifier.bias beside the "
    "base model's, pooler included)"
)


def require_head(model: ModelInfo) -> ClassifierHead:
    """The model's head; FailedPreconditionError naming what is missing when it has none."""
    if model.head is None:
        raise FailedPreconditionError(
            f"model {model.name!r} has no sequence-classification head: classifying needs "
            f"{_WHAT_A_HEAD_IS}. The server's log says why a head it has was not used"
        )
    return model.head


def relevance_index(model: ModelInfo) -> int:
    """The column of the head's probabilities a cross-encoder rerank ranks by."""
    head = require_head(model)
    if not head.relevance_label:
        raise FailedPreconditionError(
            f"model {model.name!r} has a classification head with labels "
            f"{', '.join(head.labels)} ({head.problem_type}), none of which reads as relevance: "
            "a cross-encoder rerank needs a label named 'entailment', a head of two labels "
            "(label 1 ranks), or a regression head of one"
        )
    return head.labels.index(head.relevance_label)
