"""The snapshot file: a checksummed checkpoint of a collection's FAISS index, written atomically.

Layout (little-endian)::

    b"SIMSNAP1"                     8 bytes, magic
    sha256(body)                    32 bytes
    body = header_len (u32) | header (UTF-8 JSON) | index bytes | tombstones (int64 each)

The header holds the format version, the collection's uid, the dimension, the index kind, the
stage (``"staging"`` or ``"native"``), ``last_change`` (the store change the index includes),
``fit`` (the checksum of the calibration fit its vectors were calibrated with, ``""`` for raw
vectors; absent in snapshots written before calibrations, which read as ``""``), and the sizes
of the two payload parts. The checksum covers the header too, so a flipped bit
anywhere is detected. Writing goes to a temporary file in the same directory, which is fsynced,
renamed over the old file, and the directory fsynced: a reader sees the old or the new file.
The temporary file is created 0600 (``permissions``), so the snapshot is private too.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.index.permissions import open_private_file
from simsearch.types import IntArray

__all__ = [
    "FORMAT",
    "Snapshot",
    "SnapshotError",
    "fsync_directory",
    "read_snapshot",
    "remove_temporaries",
]

MAGIC = b"SIMSNAP1"
FORMAT = 1
_DIGEST = 32
_LENGTH = struct.Struct("<I")
_LABEL = np.dtype("<i8")


class SnapshotError(Exception):
    """The snapshot is missing or unusable; the caller rebuilds from the store. Never escapes
    ``simsearch.index``."""


@dataclass(frozen=True)
class Snapshot:
    """One checkpoint. ``index_bytes``: ``faiss.serialize_index`` output; ``tombstones``:
    ``(t,) int64`` labels still inside the index but deleted."""

    uid: str
    dimension: int
    index: str
    stage: str
    last_change: int
    index_bytes: npt.NDArray[np.uint8]
    tombstones: IntArray
    fit: str = ""  # checksum of the calibration fit the vectors are in ("" : raw)

    def write(self, path: Path) -> None:
        """Atomically replace ``path`` with this snapshot (OSError if the disk refuses)."""
        tombstones = np.ascontiguousarray(self.tombstones, dtype=_LABEL)
        header = json.dumps(self._header(tombstones)).encode()
        index_bytes = np.ascontiguousarray(self.index_bytes, dtype=np.uint8)
        parts: list[bytes | memoryview] = [
            _LENGTH.pack(len(header)),
            header,
            index_bytes.data,
            tombstones.data,
        ]
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part)
        _write_atomically(path, [MAGIC, digest.digest(), *parts])

    def _header(self, tombstones: IntArray) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "uid": self.uid,
            "dimension": self.dimension,
            "index": self.index,
            "stage": self.stage,
            "last_change": self.last_change,
            "fit": self.fit,
            "index_bytes": int(self.index_bytes.size),
            "tombstones": int(tombstones.size),
        }


def read_snapshot(path: Path) -> Snapshot:
    """Read and verify ``path``; SnapshotError says what is wrong with it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SnapshotError("no snapshot file") from None
    except OSError as exc:
        raise SnapshotError(f"cannot read it: {exc}") from None
    body = _verified_body(data)
    (header_len,) = _LENGTH.unpack_from(body)
    header = _header(body[_LENGTH.size : _LENGTH.size + header_len])
    return _parse(header, body, _LENGTH.size + header_len)


def remove_temporaries(path: Path) -> None:
    """Delete temporary files a crash left behind while writing ``path``."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        leftover.unlink(missing_ok=True)


def _verified_body(data: bytes) -> memoryview:
    start = len(MAGIC) + _DIGEST
    if len(data) < start + _LENGTH.size:
        raise SnapshotError(f"truncated: {len(data)} bytes")
    if data[: len(MAGIC)] != MAGIC:
        raise SnapshotError("not a simsearch snapshot (bad magic)")
    body = memoryview(data)[start:]
    if hashlib.sha256(body).digest() != data[len(MAGIC) : start]:
        raise SnapshotError("checksum mismatch (truncated or corrupted)")
    return body


def _header(raw: memoryview) -> dict[str, Any]:
    try:
        header = json.loads(bytes(raw))
    except ValueError as exc:
        raise SnapshotError(f"unreadable header: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SnapshotError(f"unknown snapshot format {header!r:.80}")
    return header


def _parse(header: dict[str, Any], body: memoryview, offset: int) -> Snapshot:
    sizes = _int(header, "index_bytes"), _int(header, "tombstones")
    if offset + sizes[0] + sizes[1] * _LABEL.itemsize != len(body):
        raise SnapshotError("payload sizes do not match the header")
    index_bytes = np.frombuffer(body, dtype=np.uint8, count=sizes[0], offset=offset)
    tombstones = np.frombuffer(body, dtype=_LABEL, count=sizes[1], offset=offset + sizes[0])
    return Snapshot(
        uid=_str(header, "uid"),
        dimension=_int(header, "dimension"),
        index=_str(header, "index"),
        stage=_str(header, "stage"),
        last_change=_int(header, "last_change"),
        index_bytes=index_bytes,
        tombstones=tombstones.astype(np.int64),
        fit=_str(header, "fit") if "fit" in header else "",
    )


def _str(header: dict[str, Any], name: str) -> str:
    value = header.get(name)
    if not isinstance(value, str):
        raise SnapshotError(f"header field {name!r} is missing or not a string")
    return value


def _int(header: dict[str, Any], name: str) -> int:
    value = header.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SnapshotError(f"header field {name!r} is missing or not a count")
    return value


def _write_atomically(path: Path, parts: list[bytes | memoryview]) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open_private_file(temporary) as file:
            for part in parts:
                file.write(part)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
