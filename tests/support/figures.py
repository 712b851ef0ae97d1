"""The reliability tests' figures (kills survived, ids checked, inputs tried per RPC ...), by
test name: ``tests/reliability/conftest.py`` prints them at the end of the run (the
``figures`` fixture fills the current test's; a module fixture may write ``FIGURES`` itself)."""

from __future__ import annotations

from typing import Any

__all__ = ["FIGURES"]

FIGURES: dict[str, dict[str, Any]] = {}
