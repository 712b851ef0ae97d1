"""Files only their owner may read: directories 0700, files 0600, whatever the umask.

What simsearch writes holds documents (stores, snapshots) or derived models, so it is private.
Modes are set with an explicit ``chmod`` after creation because a process umask (0022 by
default, 0000 in some containers) would otherwise widen them. One rule, used by the index
(``index.permissions`` adds its policy for existing data directories and collections) and by
the encoder's model cache.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "PRIVATE_DIRECTORY",
    "PRIVATE_FILE",
    "create_private_file",
    "make_private_directories",
    "open_private_file",
]

PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600


def make_private_directories(path: Path) -> None:
    """Create ``path`` and its missing parents, each 0700 (existing ones are left alone)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIRECTORY)  # never open, even for a moment
        except FileExistsError:
            continue
        directory.chmod(PRIVATE_DIRECTORY)  # the umask may have taken bits off


def create_private_file(path: Path) -> None:
    """Create the empty file ``path`` with mode 0600 (FileExistsError if it exists)."""
    os.close(_create(path))


def open_private_file(path: Path) -> BinaryIO:
    """A new file ``path`` with mode 0600, open for binary writing (FileExistsError if it
    exists)."""
    return os.fdopen(_create(path), "wb")


def _create(path: Path) -> int:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE)  # the umask may have taken bits off
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor
