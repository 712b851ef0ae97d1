"""simsearch names <-> Milvus names: valid for Milvus, reversible, injective, prefixed."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simsearch.index.milvus.names import MAX_MILVUS_NAME, PREFIX, simsearch_name, to_milvus

_MILVUS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAMES = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


@pytest.mark.parametrize(
    ("name", "milvus"),
    [
        ("docs", "simsearch_docs"),
        ("a_b", "simsearch_a__b"),
        ("a.b", "simsearch_a_db"),
        ("a-b", "simsearch_a_hb"),
        ("0", "simsearch_0"),
        ("A.-_", "simsearch_A_d_h__"),
    ],
)
def test_examples(name: str, milvus: str) -> None:
    assert to_milvus(name) == milvus
    assert simsearch_name(milvus) == name


def test_names_that_differ_only_in_case_stay_apart() -> None:
    assert to_milvus("Docs") != to_milvus("docs")


@pytest.mark.parametrize("bad", ["", "-a", ".a", "_a", "a b", "a/b", "é", "a" * 65, "a\0"])
def test_invalid_simsearch_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        to_milvus(bad)


@pytest.mark.parametrize(
    "other",
    [
        "docs",
        "simsearch",
        "simsearch_",
        "simsearch_a_x",
        "simsearch_a_",
        "simsearch__a",
        "Simsearch_a",
    ],
)
def test_other_collections_are_not_simsearch(other: str) -> None:
    assert simsearch_name(other) is None


@given(_NAMES)
def test_every_name_maps_to_a_valid_milvus_name_and_back(name: str) -> None:
    milvus = to_milvus(name)
    assert _MILVUS.fullmatch(milvus)
    assert len(milvus) <= MAX_MILVUS_NAME
    assert milvus.startswith(PREFIX)
    assert simsearch_name(milvus) == name


@given(_NAMES, _NAMES)
def test_the_mapping_is_injective(first: str, second: str) -> None:
    assert (to_milvus(first) == to_milvus(second)) == (first == second)


@given(st.text(alphabet="abAB09_dh", max_size=20))
def test_decoding_arbitrary_milvus_names_is_exact(tail: str) -> None:
    name = simsearch_name(PREFIX + tail)
    assert name is None or to_milvus(name) == PREFIX + tail
