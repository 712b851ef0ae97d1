"""Concurrent searches: the reader/writer lock, gathering into one FAISS call, and answers that
equal one-at-a-time searches, with writes going on. No timing asserts: threads are lined up
with barriers, events and waits for a state, never with sleeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from simsearch.errors import NotFoundError, UnavailableError
from simsearch.index import FaissCatalog, FaissCollection, exact
from simsearch.index.gather import Gatherer
from simsearch.index.kinds import IndexKind
from simsearch.index.locks import ReadWriteLock
from simsearch.index.vectors import BLAS_THRESHOLD, VectorIndex
from simsearch.types import Document, FloatArray, Hit
from unit.index_fixtures import spec, unit_vectors

D = 384  # FAISS switches to BLAS from 3 queries at this dimension: both kernels are exercised
WAIT = 60.0  # seconds to wait for a state that must come (a hang fails, a slow run does not)


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "the expected state never came"
        time.sleep(0.001)


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(i)`` in ``count`` threads; their results, or the first exception raised."""
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive(), "a thread hung"
    if errors:
        raise errors[0]
    return results


# -- the reader/writer lock -------------------------------------------------------------------


def test_readers_hold_the_lock_together() -> None:
    lock = ReadWriteLock()
    inside = threading.Barrier(3)

    def read(_: int) -> None:
        with lock.reading():
            inside.wait(WAIT)  # passes only when all three are inside at once

    in_threads(3, read)


def test_a_writer_waits_for_readers_and_new_readers_wait_for_the_writer() -> None:
    lock = ReadWriteLock()
    events: list[str] = []
    reading = lock.reading()
    reading.__enter__()
    writer = threading.Thread(target=lambda: _hold(lock.writing(), events, "write"))
    writer.start()
    wait_until(lambda: lock._writers_waiting == 1)
    late_reader = threading.Thread(target=lambda: _hold(lock.reading(), events, "late read"))
    late_reader.start()
    assert events == []  # the writer waits for the first reader; the late one for the writer
    reading.__exit__(None, None, None)
    writer.join(WAIT)
    late_reader.join(WAIT)
    assert events == ["write", "late read"]


def _hold(context: Any, events: list[str], name: str) -> None:
    with context:
        events.append(name)


def test_an_unshared_lock_lets_one_reader_in_at_a_time() -> None:
    lock = ReadWriteLock(shared=False)
    first = lock.reading()
    first.__enter__()
    entered = threading.Event()
    other = threading.Thread(target=lambda: _enter_then(lock, entered))
    other.start()
    wait_until(lambda: lock._writers_waiting == 1)  # an unshared read waits as a writer
    assert not entered.is_set()
    first.__exit__(None, None, None)
    other.join(WAIT)
    assert entered.is_set()


def _enter_then(lock: ReadWriteLock, entered: threading.Event) -> None:
    with lock.reading():
        entered.set()


# -- the gatherer -----------------------------------------------------------------------------


class Recorder:
    """A ``run`` for a Gatherer: records each batch; the first one waits for ``release``."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, requests: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(requests))
        self.started.set()
        self.release.wait(WAIT)
        return [ValueError(f"bad {r}") if r < 0 else r * 10 for r in requests]


def queued_behind_a_running_batch(
    recorder: Recorder, gatherer: Gatherer[int, int], requests: Sequence[int]
) -> list[Any]:
    """Submit 0 (it runs and blocks), then ``requests`` (they queue); release; answers."""
    answers: list[Any] = [None] * (len(requests) + 1)

    def submit(i: int, request: int) -> None:
        try:
            answers[i] = gatherer.submit(request)
        except ValueError as exc:
            answers[i] = exc

    first = threading.Thread(target=submit, args=(0, 0))
    first.start()
    recorder.started.wait(WAIT)
    others = [threading.Thread(target=submit, args=(i + 1, r)) for i, r in enumerate(requests)]
    for thread in others:
        thread.start()
    wait_until(lambda: len(gatherer._queue) == len(requests))
    recorder.release.set()
    for thread in [first, *others]:
        thread.join(WAIT)
    return answers


def test_searches_queued_during_a_batch_run_as_the_next_batch() -> None:
    recorder = Recorder()
    gatherer: Gatherer[int, int] = Gatherer(recorder, lambda request: 1)
    answers = queued_behind_a_running_batch(recorder, gatherer, [1, 2, 3, 4, 5])
    assert answers == [0, 10, 20, 30, 40, 50]
    assert recorder.batches[0] == [0]
    assert sorted(recorder.batches[1]) == [1, 2, 3, 4, 5]
    assert not gatherer._running  # and the next search runs at once
    assert gatherer.submit(7) == 70


def test_one_bad_request_fails_alone() -> None:
    recorder = Recorder()
    gatherer: Gatherer[int, int] = Gatherer(recorder, lambda request: 1)
    answers = queued_behind_a_running_batch(recorder, gatherer, [1, -2, 3])
    assert answers[0:2] == [0, 10] and answers[3] == 30
    assert isinstance(answers[2], ValueError) and str(answers[2]) == "bad -2"


def test_a_batch_holds_at_most_max_gathered_queries() -> None:
    recorder = Recorder()
    gatherer: Gatherer[int, int] = Gatherer(recorder, lambda request: request, max_gathered=5)
    answers = queued_behind_a_running_batch(recorder, gatherer, [2, 2, 2, 9])
    assert answers == [0, 20, 20, 20, 90]
    assert sorted(r for batch in recorder.batches for r in batch) == [0, 2, 2, 2, 9]
    assert all(sum(batch) <= 5 or len(batch) == 1 for batch in recorder.batches)
    assert len(recorder.batches) >= 4  # 0; then 2+2 at most together; the third 2; 9 alone


def test_when_the_run_itself_fails_every_request_of_the_batch_gets_the_error() -> None:
    def broken(requests: Sequence[int]) -> list[int | Exception]:
        raise UnavailableError("collection 'docs' is closed")

    gatherer: Gatherer[int, int] = Gatherer(broken, lambda request: 1)
    with pytest.raises(UnavailableError, match="closed"):
        gatherer.submit(1)
    assert not gatherer._running


# -- exact ranking ----------------------------------------------------------------------------


@pytest.fixture
def tied_index() -> tuple[VectorIndex, FloatArray]:
    """Flat index of 5,000 vectors (labels 3i) where 40 copies of one vector tie, and 16
    queries, the first of them that vector."""
    vectors = unit_vectors(5000, seed=3, dimension=D)
    vectors[100:140] = vectors[5]
    index = VectorIndex.empty(IndexKind.parse("flat", D))
    index.add(np.arange(5000, dtype=np.int64) * 3, vectors)
    queries = unit_vectors(16, seed=4, dimension=D)
    queries[0] = vectors[5]
    return index, queries


def test_a_query_gets_the_same_answer_alone_in_a_batch_and_with_a_larger_k(
    tied_index: tuple[VectorIndex, FloatArray],
) -> None:
    index, queries = tied_index

    def unused(labels: Any) -> Any:
        raise AssertionError("exact search reads no stored vectors")

    batch_scores, batch_labels = index.search_rescored(queries, 60, unused)
    for row, query in enumerate(queries):
        for k in (1, 10, 60):
            scores, labels = index.search_rescored(query[None], k, unused)
            assert labels[0].tolist() == batch_labels[row, :k].tolist()
            assert scores[0].tobytes() == batch_scores[row, :k].tobytes()  # to the last bit
    # the 41 tied vectors come first, the older document (lower label) first
    assert batch_labels[0, :41].tolist() == [15, *range(300, 420, 3)]


@pytest.mark.parametrize("batch", [2, 3, 4, 7, 8])
def test_small_batches_on_either_kernel_answer_like_single_queries(
    tied_index: tuple[VectorIndex, FloatArray], batch: int
) -> None:
    """Gathered batches of 2-8 queries: FAISS scans one query at a time below
    ``BLAS_THRESHOLD`` and with BLAS from it; each query's answer is its answer alone."""
    index, queries = tied_index
    assert faiss.cvar.distance_compute_blas_threshold == BLAS_THRESHOLD
    assert 2 * D < BLAS_THRESHOLD <= 8 * D  # so the batches below take both kernels
    unused: Any = None  # exact search reads no stored vectors
    for k in (10, 60):
        scores, labels = index.search_rescored(queries[:batch], k, unused, one_thread=True)
        for row in range(batch):
            alone_scores, alone_labels = index.search_rescored(queries[row][None], k, unused)
            assert alone_labels[0].tolist() == labels[row].tolist()
            assert alone_scores[0].tobytes() == scores[row].tobytes()


def test_a_large_batch_is_ranked_in_chunks_with_the_same_answers(
    tied_index: tuple[VectorIndex, FloatArray],
) -> None:
    index, _ = tied_index
    queries = unit_vectors(30, seed=17, dimension=D)  # 30 x 1032 candidates: three chunks
    scores, labels = index.search_rescored(queries, 1000, lambda labels: labels)
    assert labels.shape == (30, 1000)
    for row in (0, 11, 29):
        alone_scores, alone_labels = index.search_rescored(queries[row][None], 1000, None)  # type: ignore[arg-type]
        assert alone_labels[0].tolist() == labels[row].tolist()
        assert alone_scores[0].tobytes() == scores[row].tobytes()


def test_ranked_scores_are_exact_and_ties_go_to_the_lower_label() -> None:
    queries = unit_vectors(2, seed=5, dimension=8)
    vectors = np.stack([unit_vectors(3, seed=6, dimension=8)] * 2)
    vectors[:, 2] = vectors[:, 0]
    labels = np.array([[9, 4, 2], [7, -1, 3]], dtype=np.int64)
    scores, ranked = exact.ranked(queries, labels, vectors)
    for row in range(2):
        exact_scores = vectors[row].astype(np.float64) @ queries[row].astype(np.float64)
        valid = labels[row] >= 0
        order = np.lexsort((labels[row][valid], -exact_scores[valid]))
        assert ranked[row, : valid.sum()].tolist() == labels[row][valid][order].tolist()
        np.testing.assert_allclose(scores[row, : valid.sum()], exact_scores[valid][order])
    assert [label for label in ranked[0] if label in (2, 9)] == [2, 9]  # equal: lower first
    assert ranked[1, -1] == -1 and scores[1, -1] == -np.inf


# -- collections: gathered searches equal one-at-a-time ones ----------------------------------


def documents(start: int, stop: int) -> list[Document]:
    return [Document(f"doc-{i}", f"text {i}", {"i": i}) for i in range(start, stop)]


def answer(hits: list[list[Hit]]) -> list[list[tuple[str, float]]]:
    return [[(hit.id, hit.score) for hit in row] for row in hits]


def one_at_a_time(collection: FaissCollection, queries: FloatArray, k: int) -> list[Any]:
    return [answer(collection.search(query[None], k))[0] for query in queries]


def test_concurrent_searches_are_gathered_and_equal_one_at_a_time_searches(
    catalog: FaissCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection = catalog.create(spec(dimension=D))
    vectors = unit_vectors(3000, seed=7, dimension=D)
    vectors[1000:1030] = vectors[10]  # 31 equal documents: ties at every k below
    collection.upsert(documents(0, 3000), vectors)
    queries = unit_vectors(24, seed=8, dimension=D)
    queries[::4] = vectors[10]
    ks = [1 + (i * 7) % 40 for i in range(len(queries))]
    alone = [one_at_a_time(collection, queries[i : i + 1], k)[0] for i, k in enumerate(ks)]

    calls: list[int] = []
    search = VectorIndex.search

    def counting(self: VectorIndex, queries: FloatArray, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(queries))
        return search(self, queries, *args, **kwargs)

    monkeypatch.setattr(VectorIndex, "search", counting)
    gatherer = collection._gatherer
    assert gatherer is not None
    holding = collection._lock.writing()  # hold searches back until all of them are queued
    holding.__enter__()
    try:
        search_one = lambda i: answer(collection.search(queries[i : i + 1], ks[i]))[0]  # noqa: E731
        first = _start(search_one, range(1))
        wait_until(lambda: gatherer._running and not gatherer._queue)  # it leads, alone
        others = _start(search_one, range(1, len(queries)))
        wait_until(lambda: len(gatherer._queue) == len(queries) - 1)
    finally:
        holding.__exit__(None, None, None)
    together = _joined(first + others)
    assert together == alone
    assert calls == [1, len(queries) - 1]  # the first alone, then all the others in one call


def _start(work: Callable[[int], Any], numbers: range) -> list[tuple[threading.Thread, list[Any]]]:
    started = []
    for i in numbers:
        box: list[Any] = []
        thread = threading.Thread(target=lambda i=i, box=box: box.append(work(i)))
        thread.start()
        started.append((thread, box))
    return started


def _joined(threads: list[tuple[threading.Thread, list[Any]]]) -> list[Any]:
    for thread, _ in threads:
        thread.join(WAIT)
        assert not thread.is_alive(), "a search hung"
    assert all(box for _, box in threads), "a search failed"
    return [box[0] for _, box in threads]


class Writes:
    """A seeded sequence of writes (new ids, replacements, deletes) and, for every prefix of
    it, the exact answer to each query, computed with numpy as ``exact.ranked`` scores."""

    def __init__(self, queries: FloatArray, k: int) -> None:
        self.steps: list[tuple[str, list[str], FloatArray]] = []
        rng = np.random.default_rng(9)
        state = {f"doc-{i}": v for i, v in enumerate(unit_vectors(1500, seed=10, dimension=D))}
        self.initial = dict(state)
        labels = {doc_id: n for n, doc_id in enumerate(state)}  # insertion order = label order
        next_label = len(labels)
        self.answers = [self._answers(state, labels, queries, k)]
        for step in range(30):
            if step % 3 == 2:
                ids = [f"doc-{j}" for j in sorted(set(rng.integers(0, 1500 + 10 * step, 12)))]
                for doc_id in ids:
                    state.pop(doc_id, None)
                self.steps.append(("delete", ids, np.zeros((0, D), np.float32)))
            else:  # near the queries, so that each write changes some answers
                ids = [f"doc-{1500 + 10 * step + j}" for j in range(6)]
                ids += [f"doc-{j}" for j in rng.integers(0, 1500, 4)]  # replacements
                ids = list(dict.fromkeys(ids))
                near = queries[rng.integers(0, len(queries), len(ids))]
                vectors = near + 0.3 * unit_vectors(len(ids), seed=100 + step, dimension=D)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                for doc_id, vector in zip(ids, vectors, strict=True):
                    state.pop(doc_id, None)
                    state[doc_id] = vector
                    labels[doc_id], next_label = next_label, next_label + 1  # always a new one
                self.steps.append(("upsert", ids, vectors))
            self.answers.append(self._answers(state, labels, queries, k))

    @staticmethod
    def _answers(
        state: dict[str, FloatArray], labels: dict[str, int], queries: FloatArray, k: int
    ) -> list[list[tuple[str, float]]]:
        ids = list(state)
        matrix = np.stack([state[i] for i in ids])
        own = np.array([labels[i] for i in ids], dtype=np.int64)
        found = []
        for query in queries:  # the float64 sums of ``exact.ranked``; ties to the lower label
            exact_scores = (matrix.astype(np.float64) * query.astype(np.float64)).sum(axis=1)
            ranking = np.lexsort((own, -exact_scores))[:k]
            found.append([(ids[j], float(np.float32(exact_scores[j]))) for j in ranking])
        return found


@pytest.mark.parametrize("searchers", [3, 8])  # gathered batches of 1-3 and 1-8 queries
def test_searches_during_upserts_and_deletes_see_whole_writes_in_order(
    catalog: FaissCatalog, searchers: int
) -> None:
    queries = unit_vectors(searchers, seed=11, dimension=D)
    k = 12
    writes = Writes(queries, k)
    collection = catalog.create(spec(dimension=D))
    collection.upsert(
        [Document(i, f"text of {i}") for i in writes.initial],
        np.stack(list(writes.initial.values())),
    )
    done = threading.Event()
    written = [0]  # writes completed so far
    lock = threading.Lock()
    begun_after: dict[int, int] = {}  # writes completed when a search began -> searches done

    def search(i: int) -> None:
        earliest = 0  # writes are applied in order: answers never go back to an older prefix
        while True:
            finished, before = done.is_set(), written[0]
            got = answer(collection.search(queries[i : i + 1], k))[0]
            after = written[0]
            # a search sees every write completed before it began, and none not yet begun
            prefixes = [
                p for p in range(max(before, earliest), after + 2) if p < len(writes.answers)
            ]
            matching = [p for p in prefixes if writes.answers[p][i] == got]
            assert matching, f"query {i}: no prefix of {prefixes} of the writes gives {got}"
            earliest = matching[0]
            with lock:
                begun_after[before] = begun_after.get(before, 0) + 1
            if finished:  # this search began after the last write
                assert got == writes.answers[-1][i]
                return

    def write() -> None:
        try:
            for number, (kind, ids, vectors) in enumerate(writes.steps):
                # pace the writes: a search runs before the first, between each, after the last
                wait_until(lambda number=number: begun_after.get(number, 0) > 0)  # type: ignore[misc]
                if kind == "upsert":
                    collection.upsert([Document(i, f"text of {i}") for i in ids], vectors)
                else:
                    collection.delete(ids)
                written[0] = number + 1
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    in_threads(len(queries), search)
    writer.join(WAIT)
    assert set(range(len(writes.steps) + 1)) <= set(begun_after)  # searches between all writes
    assert one_at_a_time(collection, queries, k) == writes.answers[-1]


def test_a_closed_collection_fails_every_gathered_search(catalog: FaissCatalog) -> None:
    collection = catalog.create(spec(dimension=D))
    collection.upsert(documents(0, 50), unit_vectors(50, seed=12, dimension=D))
    collection.close()
    with pytest.raises(UnavailableError, match="closed"):
        collection.search(unit_vectors(1, seed=13, dimension=D), 5)


def test_the_serialized_reference_gives_the_same_answers(tmp_path: Path) -> None:
    vectors = unit_vectors(500, seed=14, dimension=D)
    queries = unit_vectors(6, seed=15, dimension=D)
    answers = []
    for concurrent in (True, False):
        catalog = FaissCatalog(tmp_path / str(concurrent), concurrent_search=concurrent)
        collection = catalog.create(spec(dimension=D))
        collection.upsert(documents(0, 500), vectors)
        answers.append(
            in_threads(6, lambda i, c=collection: answer(c.search(queries[i : i + 1], 7)))
        )
        assert (collection._gatherer is None) is (not concurrent)
        catalog.close()
    assert answers[0] == answers[1]


def test_unknown_ids_still_fail_under_the_shared_lock(catalog: FaissCatalog) -> None:
    collection = catalog.create(spec(dimension=D))
    collection.upsert(documents(0, 5), unit_vectors(5, seed=16, dimension=D))
    with pytest.raises(NotFoundError):
        collection.get_embeddings(["doc-0", "nope"])
