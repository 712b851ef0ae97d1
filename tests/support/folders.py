"""The test folders, each a pytest marker (``pytest -m unit``): tests/conftest.py marks them."""

from __future__ import annotations

FOLDER_MARKERS = ("unit", "integration", "model", "reliability", "security", "scaleout")
