"""The client's public surface: a curated ``__all__``, and no torch, faiss or transformers."""

from __future__ import annotations

import subprocess
import sys

import simsearch.client


def test_every_exported_name_exists_and_the_list_is_sorted() -> None:
    assert simsearch.client.__all__ == sorted(simsearch.client.__all__)
    for name in simsearch.client.__all__:
        assert getattr(simsearch.client, name) is not None
    assert {"Client", "Document", "Hit", "Pooling", "ServerInfo", "UpsertResult"} <= set(
        simsearch.client.__all__
    )


def test_the_client_and_its_cli_import_no_heavy_dependency() -> None:
    """Also ``simsearch serve --help``: the server half is imported only when it runs."""
    code = (
        "import contextlib, io, sys, simsearch.client, simsearch.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert simsearch.cli.main(['serve', '--help']) == 0\n"
        "print(sorted({'torch', 'faiss', 'transformers'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
