"""Texts the Ray tests send, and how close the replicas' vectors must be to in-process ones."""

from __future__ import annotations

TEXTS = [
    "The cat sat on the mat.",
    "A dog runs in the park",
    "short",
    "Replicas on Ray Serve encode the same vectors as the model in this process.",
]
PAIRS = [("the cat sat", "a cat was sitting"), ("weather today", "stock prices fell")]
TOLERANCE = 1e-5  # float32 torch on both sides
