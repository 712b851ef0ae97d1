"""Index kinds FAISS builds but cannot run are refused by ``IndexKind.parse``, at create time
and again when a stored collection opens; the kinds next to them still work end to end.

Each refused kind below crashed the process (SIGSEGV, SIGABRT, SIGFPE), failed searches, or
could never train, in a survey of FAISS 1.15 (the table in ``simsearch.index.kinds``). A kind
that crashes FAISS cannot be tested in-process before the fix, so the stored-kind test opens
the collection in a child process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simsearch.errors import InvalidArgumentError
from simsearch.index import FaissCatalog
from simsearch.index.kinds import IndexKind
from simsearch.types import Document, SearchParams
from support.stored_spec import set_stored_index
from unit.index_fixtures import DIMENSION, spec, unit_vectors


def _run_child(code: str, *args: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter: a FAISS crash there fails the test, not pytest."""
    command = [sys.executable, "-c", code, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


REFUSED = [
    ("HNSW0", "out of range"),  # SIGABRT: Faiss assertion 'i < end' failed (HNSW.cpp)
    ("HNSW1", "M \\(links per vector\\) in 2..256"),  # SIGSEGV at the first add
    ("HNSW1,Flat", "M \\(links"),
    ("HNSW1,SQ8", "M \\(links"),
    ("HNSW100000", "M \\(links"),  # 800 KB of links per vector
    ("IVF4_HNSW1,Flat", "M \\(links"),  # SIGSEGV when training the coarse quantizer
    ("IVF4_HNSW0,Flat", "out of range"),
    ("IVF0,Flat", "out of range"),
    ("IVF10000000,Flat", "10000000 is out of range"),  # 1.6 GB before the first vector
    ("IVF4,PQ8x0", "out of range"),  # SIGSEGV at the first search
    ("IVF4,PQ8x17", "17 bits"),  # never trains on 100,000 vectors
    ("IVF4,PQ8x24", "24 bits"),  # std::bad_alloc at dimension 384
    ("IVF4,PQ8x4fs_0", "out of range"),  # SIGFPE at the first add
    ("IVF4,SQ0", "out of range"),  # 0-bit codes keep nothing
    ("SQ0", "out of range"),
    ("PCA0,Flat", "out of range"),  # an index of dimension 0
    ("PCA64,Flat", "cannot output 64 dimensions from 32"),  # never trains
    ("OPQ8_64,IVF4,PQ8", "cannot output 64 dimensions from 32"),  # slow, and adds nothing
    ("OPQ7,HNSW8", "OPQ7 cannot split 32 dimensions"),  # never trains
    ("OPQ8_12,Flat", "OPQ8 cannot split 12 dimensions"),
    ("OPQ0,IVF4,PQ8", "out of range"),  # never trains
    ("IVF4(PQ4),Flat", "coarse quantizer"),  # never trains
    ("IVF4,RQ1x8", "additive quantizer"),  # every filtered search fails
]


@pytest.mark.parametrize(("index", "reason"), REFUSED, ids=[index for index, _ in REFUSED])
def test_kinds_faiss_cannot_run_are_invalid(index: str, reason: str) -> None:
    with pytest.raises(InvalidArgumentError, match=reason) as caught:
        IndexKind.parse(index, DIMENSION)
    assert repr(index) in str(caught.value)


ACCEPTED = [
    "HNSW2",
    "HNSW256",
    "HNSW32,SQ8",
    "IVF1,Flat",
    "IVF4_HNSW2,Flat",
    "IVF4,PQ8x1",
    "IVF4,PQ8x4fs",
    "IVF4,PQ32",  # one dimension per sub-quantizer
    "IVF4,SQ4",
    "PCA1,Flat",
    "PCA32,HNSW8",
    "OPQ8_16,IVF4,PQ8",
    "RR32,HNSW8",
]


@pytest.mark.parametrize("index", ACCEPTED)
def test_the_kinds_next_to_them_run(catalog: FaissCatalog, index: str) -> None:
    """Train, add, search (filtered and with request parameters), delete, reopen."""
    n = max(300, IndexKind.parse(index, DIMENSION).train_size)
    collection = catalog.create(spec(index=index))
    ids = [f"d{i}" for i in range(n)]
    vectors = unit_vectors(n, seed=3)
    collection.upsert(
        [Document(doc_id, doc_id, {"i": i % 2}) for i, doc_id in enumerate(ids)], vectors
    )
    assert collection._vectors.stage == "native"
    collection.delete(ids[:20])
    for params in (None, SearchParams(ef_search=1, nprobe=1)):
        hits = collection.search(vectors[20:23], 5, {"i": 1}, params)
        assert all(len(row) == 5 for row in hits)
        assert collection.search(vectors[20:23], 5, params=params)[0]
    catalog.close()
    reopened = FaissCatalog(catalog._root).open("docs")
    assert reopened.count() == n - 20
    reopened.close()


CHILD = """
import sys
from pathlib import Path
from simsearch.index import FaissCatalog
from simsearch.errors import UnavailableError
catalog = FaissCatalog(Path(sys.argv[1]))
try:
    catalog.open("bad")
except UnavailableError as exc:
    print("unavailable:", exc)
print("good:", catalog.open("good").count())
"""


@pytest.mark.parametrize("index", ["HNSW1", "HNSW0", "IVF4_HNSW1,Flat"])
def test_a_stored_kind_faiss_cannot_run_is_refused_at_open(tmp_path: Path, index: str) -> None:
    """A collection an older version created with such a kind (and documents, committed before
    the crash) must be refused by the re-check when it opens, not rebuilt into a crash."""
    catalog = FaissCatalog(tmp_path)
    for name in ("good", "bad"):
        collection = catalog.create(spec(name, index="HNSW32"))
        collection.upsert([Document(f"d{i}", "text") for i in range(300)], unit_vectors(300, 1))
    catalog.close()
    set_stored_index(tmp_path / "bad", index)
    result = _run_child(CHILD, tmp_path)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    lines = result.stdout.splitlines()
    assert lines[0].startswith("unavailable: collection 'bad' is unavailable: "), lines
    assert "M (links per vector)" in lines[0] or "out of range" in lines[0], lines
    assert lines[1] == "good: 300"


OPQ_CHILD = """
import sys
from pathlib import Path
import numpy as np
from simsearch.index import FaissCatalog
from simsearch.types import CollectionSpec, Document, Pooling
d, n = 384, 300
spec = CollectionSpec("opq", Pooling.POOLER, "OPQ8,HNSW32", d, "fake", "fake")
collection = FaissCatalog(Path(sys.argv[1])).create(spec)
vectors = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
collection.upsert([Document(f"d{i}", "text") for i in range(n)], vectors)
print(collection._vectors.stage, collection._vectors.train_size)
print(collection.search(vectors[:1], 1)[0][0].id)
"""


def test_opq_waits_for_as_many_vectors_as_its_output_dimension(tmp_path: Path) -> None:
    """FAISS's OPQ trained on fewer vectors than it outputs dimensions crashed the process
    (SIGSEGV; ``OPQ8,HNSW32`` at dimension 384 trains once 256 documents are stored)."""
    result = _run_child(OPQ_CHILD, tmp_path)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.splitlines() == ["staging 384", "d0"]
    assert IndexKind.parse("OPQ8,HNSW32", 384).train_size == 384


LONG_CHILD = """
from simsearch.errors import InvalidArgumentError
from simsearch.index.kinds import IndexKind
for text in ("HNSW32," + "x" * 20_000, "\\u7d22" * 9_000):
    try:
        IndexKind.parse(text, 384)
    except InvalidArgumentError as exc:
        print(len(str(exc)), "longer than" in str(exc))
"""


def test_a_very_long_index_string_is_refused_before_faiss_parses_it() -> None:
    """FAISS's factory parser crashed the process (SIGSEGV) on strings of about 15,000 bytes,
    so one CreateCollection took the server down; run in a child so a crash fails the test."""
    result = _run_child(LONG_CHILD)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    lengths_and_reasons = [line.split() for line in result.stdout.splitlines()]
    assert [reason for _, reason in lengths_and_reasons] == ["True", "True"]
    assert all(int(length) < 300 for length, _ in lengths_and_reasons)
