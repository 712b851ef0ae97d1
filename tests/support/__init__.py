"""Helpers shared by the test folders (importable as ``support``; see tests/conftest.py)."""
