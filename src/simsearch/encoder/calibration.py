"""Calibration texts for static int8: read from the user's file, chosen and hashed.

Static int8 sets each activation's quantization range from what the model computes on real
inputs, so it is calibrated on texts like the ones it will embed: the user's own documents.
The file is plain text, one text per line, or JSON Lines (a ``.jsonl`` or ``.ndjson`` name),
one object per line with a string ``"text"`` field (the client's upsert format; other fields
are ignored). Blank lines are skipped. At most ``CALIBRATION_TEXTS`` texts are used, spread
evenly over the file so a file sorted by topic or length is sampled across. The texts used
are hashed: the quantized model's fingerprint and its cache entry follow them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from simsearch.encoder.loading import ModelLoadError

__all__ = ["CALIBRATION_TEXTS", "calibration_hash", "read_calibration_texts"]

# NNCF's default subset size; measured on all-MiniLM-L6-v2, 300 STS-B sentences calibrate it
# to within 0.1 Spearman of float32 (more texts only lengthen the first start).
CALIBRATION_TEXTS = 300
_JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})


def read_calibration_texts(path: Path, limit: int = CALIBRATION_TEXTS) -> list[str]:
    """At most ``limit`` non-blank texts of ``path``, evenly spaced; ``ModelLoadError`` when
    the file cannot be read, a JSONL line is malformed, or there is no text at all."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read the int8 calibration file {path}: {exc}") from exc
    try:
        content = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ModelLoadError(
            f"the int8 calibration file {path} is not UTF-8 (byte {exc.start + 1})"
        ) from None
    jsonl = path.suffix.lower() in _JSONL_SUFFIXES
    texts = [
        _jsonl_text(path, number, line) if jsonl else line
        for number, line in enumerate(content.splitlines(), start=1)
        if line.strip()
    ]
    if not texts:
        raise ModelLoadError(f"the int8 calibration file {path} holds no text")
    return _spread(texts, limit)


def _jsonl_text(path: Path, number: int, line: str) -> str:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
    text = value.get("text") if isinstance(value, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise ModelLoadError(f'{path}:{number}: expected an object with a non-empty "text"')
    return text


def _spread(texts: list[str], limit: int) -> list[str]:
    if len(texts) <= limit:
        return texts
    step = len(texts) / limit
    return [texts[int(i * step)] for i in range(limit)]


def calibration_hash(texts: list[str]) -> str:
    """sha256 (hex) of the texts, in order."""
    digest = hashlib.sha256()
    for text in texts:
        encoded = text.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()
