"""Classification on the wire: the model's head (in ``ModelInfo``) and a ``Classify`` answer.

A ``ClassifyResponse`` holds one ``Classification`` per input (its label, label id, and a
probability and a logit per label, in the head's label order); it decodes to one
``Classifications`` of ``(n, labels)`` arrays. The request's texts or pairs travel as in
Encode (``wire.inputs``).
"""

from __future__ import annotations

import numpy as np

from simsearch.types import Classifications, ClassifierHead
from simsearch.v1 import simsearch_pb2 as pb

__all__ = [
    "classifications_from_wire",
    "classifications_to_wire",
    "head_from_wire",
    "head_to_wire",
]


def head_to_wire(head: ClassifierHead) -> pb.ClassifierHead:
    return pb.ClassifierHead(
        labels=head.labels, problem_type=head.problem_type, relevance_label=head.relevance_label
    )


def head_from_wire(message: pb.ClassifierHead) -> ClassifierHead:
    return ClassifierHead(
        labels=tuple(message.labels),
        problem_type=message.problem_type,
        relevance_label=message.relevance_label,
    )


def classifications_to_wire(result: Classifications) -> pb.ClassifyResponse:
    return pb.ClassifyResponse(
        results=[
            pb.Classification(
                label=label,
                label_id=int(label_id),
                probabilities=probabilities.tolist(),
                logits=logits.tolist(),
            )
            for label, label_id, probabilities, logits in zip(
                result.labels, result.label_ids, result.probabilities, result.logits, strict=True
            )
        ],
        truncated=result.truncated,
    )


def classifications_from_wire(response: pb.ClassifyResponse) -> Classifications:
    results = response.results
    shape = (len(results), len(results[0].logits) if results else 0)
    return Classifications(
        logits=np.array([r.logits for r in results], np.float32).reshape(shape),
        probabilities=np.array([r.probabilities for r in results], np.float32).reshape(shape),
        label_ids=np.array([r.label_id for r in results], np.int64),
        labels=tuple(r.label for r in results),
        truncated=tuple(response.truncated),
    )
