"""Who may read a data directory: its owner only, whatever the umask.

Stores hold every document's text and metadata, so what simsearch creates is private
(``simsearch.private_files``: directories 0700, files 0600 whatever the umask). SQLite creates a
store's ``-wal`` and ``-shm`` files with the mode of the store file itself, so creating that
file 0600 first is enough for the three.

Existing files are handled in two ways. The collections' own folders and files (from a version
that created them 0755/0644) are tightened when a collection opens, with a warning per path:
they are simsearch's, nothing else should read them. The data directory itself is created 0700
but never changed when it exists: it may be a path the operator shares on purpose (or even
``/tmp``), so a loose mode there only gets a warning.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from simsearch.private_files import (
    PRIVATE_DIRECTORY,
    PRIVATE_FILE,
    create_private_file,
    open_private_file,
)

__all__ = [
    "PRIVATE_DIRECTORY",
    "PRIVATE_FILE",
    "create_private_file",
    "make_private_directory",
    "open_private_file",
    "tighten_collection",
]

_OTHERS = 0o077  # group and other permission bits

logger = logging.getLogger(__name__)


def make_private_directory(path: Path, *, warn: bool = True) -> None:
    """Create ``path`` (and missing parents) with mode 0700. If it exists, its mode is left
    alone (see the module docstring), with a warning (unless ``warn`` is False) when others
    may read or enter it."""
    try:
        path.mkdir(mode=PRIVATE_DIRECTORY, parents=True)  # never open, even for a moment
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if warn and mode & _OTHERS and path.is_dir():
            logger.warning(
                "the data directory %s has mode %04o: other local users can list its "
                "collections (their files are private); chmod 700 %s to hide them",
                path,
                mode,
                path,
            )
        return
    path.chmod(PRIVATE_DIRECTORY)  # the umask may have taken bits off


def tighten_collection(directory: Path) -> None:
    """Take group and other permissions off a collection's folder and its files (a warning
    for each path changed; a failure is only logged: the files stay usable as they are)."""
    try:
        _tighten(directory)
        for entry in directory.iterdir():
            if entry.is_file() and not entry.is_symlink():
                _tighten(entry)
    except OSError as exc:
        logger.warning("could not check the permissions in %s: %s", directory, exc)


def _tighten(path: Path) -> None:
    mode = stat.S_IMODE(path.lstat().st_mode)
    if not mode & _OTHERS:
        return
    path.chmod(mode & ~_OTHERS)
    logger.warning(
        "%s had mode %04o, open to other local users; changed to %04o",
        path,
        mode,
        mode & ~_OTHERS,
    )
