"""One server per data directory, even when a file inside it is deleted.

The lock is an ``flock`` on the data directory itself. A lock *file* could be deleted while the
server runs; a second server would then lock a new file, open the same stores and serve search
results from an index that no longer follows the writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simsearch.client import Client
from simsearch.errors import UnavailableError
from simsearch.server.app import lock_data_dir

from .process import ServerProcess

MESSAGE = "another simsearch server is using"


def _delete_lock_files(data_dir: Path) -> None:
    """What an operator (or a clean-up script) might do: delete the lock file, if any."""
    for path in data_dir.glob(".lock*"):
        path.unlink()


def test_the_lock_holds_when_files_in_the_directory_are_deleted(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with lock_data_dir(data_dir):
        _delete_lock_files(data_dir)
        with pytest.raises(UnavailableError, match=MESSAGE):
            lock_data_dir(data_dir)
    with lock_data_dir(data_dir):  # released with the first holder
        pass


def test_a_second_server_on_the_same_data_dir_exits(tiny_model_dir: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServerProcess(tiny_model_dir, data_dir, tmp_path / "first.log").wait_ready()
    try:
        with Client(first.address) as client:
            client.create_collection("docs")
        _delete_lock_files(data_dir)
        second = ServerProcess(tiny_model_dir, data_dir, tmp_path / "second.log")
        try:
            second.wait_ready()
        except RuntimeError:  # it exited before serving, as it must
            pass
        else:
            pytest.fail(f"a second server serves the same data directory:\n{second.log()}")
        finally:
            second.kill()
        assert second.popen.returncode == 1, second.log()
        assert f"cannot start: {MESSAGE} {data_dir}" in second.log(), second.log()
        with Client(first.address) as client:  # the first server goes on unharmed
            assert [info.spec.name for info in client.list_collections()] == ["docs"]
    finally:
        first.terminate()
        assert first.wait(timeout=60) == 0, first.log()
