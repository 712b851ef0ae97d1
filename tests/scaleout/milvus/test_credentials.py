"""A Milvus that requires credentials: the token from SIMSEARCH_MILVUS_TOKEN signs simsearch in,
a wrong or missing one stops it with a clear error that never repeats the token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simsearch.errors import UnavailableError
from simsearch.index.milvus import MilvusCatalog
from simsearch.types import CollectionSpec, Pooling
from support.milvus_server import ROOT_TOKEN, start_milvus


@pytest.fixture(scope="module")
def secured_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = start_milvus(tmp_path_factory.mktemp("milvus-auth"), authorization=True)
    try:
        yield server.uri
    finally:
        server.stop()


def test_the_token_signs_in(secured_uri: str) -> None:
    catalog = MilvusCatalog(secured_uri, token=ROOT_TOKEN, timeout=60)
    try:
        catalog.create(CollectionSpec("signed.in", Pooling.MEAN, "flat", 4, "m", "f"))
        assert catalog.names() == ["signed.in"]
        catalog.drop("signed.in")
    finally:
        catalog.close()


@pytest.mark.parametrize("token", ["root:not-the-password", ""])
def test_a_wrong_or_missing_token_is_refused_without_repeating_it(
    secured_uri: str, token: str
) -> None:
    with pytest.raises(UnavailableError) as refused:
        catalog = MilvusCatalog(secured_uri, token=token, timeout=30)
        try:
            catalog.names()
        finally:
            catalog.close()
    message = str(refused.value)
    assert "could not be reached" in message and "are they right?" in message
    assert ("SIMSEARCH_MILVUS_TOKEN" in message) == bool(token)
    assert "not-the-password" not in message
