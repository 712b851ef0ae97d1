"""Every test folder has its marker, registered: ``pytest -m <folder>`` selects its tests."""

from __future__ import annotations

from pathlib import Path

import tomllib

from support.folders import FOLDER_MARKERS

TESTS = Path(__file__).resolve().parents[1]


def test_every_folder_of_tests_has_a_registered_marker() -> None:
    folders = {p.parent.relative_to(TESTS).parts[0] for p in TESTS.glob("*/**/test_*.py")}
    assert folders == set(FOLDER_MARKERS)
    config = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())
    registered = {line.split(":")[0] for line in config["tool"]["pytest"]["ini_options"]["markers"]}
    assert set(FOLDER_MARKERS) <= registered


def test_a_test_carries_its_folders_marker(request: object) -> None:
    node = request.node  # type: ignore[attr-defined]
    assert node.get_closest_marker("unit") is not None
    assert node.get_closest_marker("integration") is None
