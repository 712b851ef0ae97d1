"""Cross-request batching: each caller gets exactly its own rows, in order, whatever it shares
a forward pass with; one caller's failure is its own; the queue is bounded; close is clean."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simsearch.encoder import BertEncoder, load_encoder
from simsearch.encoder.batching import PaddedBatch
from simsearch.encoder.pass_cost import PassCostModel
from simsearch.encoder.runner import ModelOutputs, ModelRunner
from simsearch.encoder.scheduler import BatchScheduler, fill_delay
from simsearch.errors import (
    DeadlineExceededError,
    InvalidArgumentError,
    OverloadedError,
    UnavailableError,
)
from simsearch.types import Pooling, TextInput
from support.reference import Reference, assert_close
from support.tiny_bert import CHINESE, ENGLISH_WORDS

WORKER = "simsearch-encoder"


@pytest.fixture
def encoder(tiny_model_dir: Path) -> Iterator[BertEncoder]:
    """Small batches and budget, so jobs are split and share passes; a long wait, so
    concurrent callers reliably meet in the queue."""
    encoder = load_encoder(str(tiny_model_dir), batch_size=8, batch_tokens=160, batch_wait_ms=20.0)
    yield encoder
    encoder.close()


class Spy:
    """Wraps ``ModelRunner.forward``: records each pass's input ids, can hold the first pass
    until released (so later submissions pile up in the queue), and can fail passes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.batches: list[np.ndarray] = []
        self.jobs_per_pass: list[int] = []
        self.hold = threading.Event()
        self.hold.set()
        self.held = threading.Event()
        self.fail_on_token: int | None = None
        original = ModelRunner.forward
        original_forward = BatchScheduler._forward

        def forward(runner: ModelRunner, batch: PaddedBatch) -> ModelOutputs:
            self.held.set()
            self.hold.wait(timeout=30)
            ids = batch.input_ids.numpy()
            self.batches.append(ids.copy())
            if self.fail_on_token is not None and (ids == self.fail_on_token).any():
                raise RuntimeError("injected failure")
            return original(runner, batch)

        def scheduler_forward(scheduler: BatchScheduler, rows: Any) -> ModelOutputs:
            self.jobs_per_pass.append(len({id(row.pending) for row in rows}))
            return original_forward(scheduler, rows)

        monkeypatch.setattr(ModelRunner, "forward", forward)
        monkeypatch.setattr(BatchScheduler, "_forward", scheduler_forward)

    def pause(self) -> None:
        """Hold the next pass (and every later one) until ``hold`` is set."""
        self.held.clear()
        self.hold.clear()


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


# -- randomised concurrent jobs ---------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One caller's request: which method, its inputs and options."""

    kind: str  # "encode", "tokens" or "both"
    inputs: list[TextInput]
    pooling: Pooling
    normalize: bool
    truncate: bool

    def run(self, encoder: BertEncoder) -> Any:
        if self.kind == "encode":
            return encoder.encode(
                self.inputs, self.pooling, normalize=self.normalize, truncate=self.truncate
            )
        if self.kind == "tokens":
            return encoder.encode_tokens(self.inputs, truncate=self.truncate)
        return encoder.encode_with_tokens(self.inputs, self.pooling, truncate=self.truncate)


def _text(rng: random.Random, words: int) -> str:
    vocabulary = ENGLISH_WORDS + CHINESE
    return " ".join(rng.choice(vocabulary) for _ in range(words))


def _input(rng: random.Random) -> TextInput:
    if rng.random() < 0.25:
        return (_text(rng, rng.randint(1, 12)), _text(rng, rng.randint(1, 12)))
    return _text(rng, rng.choice([1, 2, 5, 10, 20, 40]))


def _calls(seed: int) -> list[Call]:
    """24 calls of 1-12 inputs (two of 30, to split), some with an over-long input."""
    rng = random.Random(seed)
    calls = []
    for index in range(24):
        size = 30 if index in (3, 17) else rng.randint(1, 12)
        inputs = [_input(rng) for _ in range(size)]
        truncate = rng.random() < 0.3
        if rng.random() < 0.15:
            inputs[rng.randrange(size)] = _text(rng, 80)  # over the tiny model's 64 tokens
        kind = rng.choice(["encode", "encode", "tokens", "both"])
        calls.append(Call(kind, inputs, rng.choice(list(Pooling)), rng.random() < 0.5, truncate))
    return calls


def _outcome(call: Call, encoder: BertEncoder) -> Any:
    try:
        return call.run(encoder)
    except InvalidArgumentError as exc:
        return exc


def _assert_same(actual: Any, expected: Any) -> None:
    """The same outcome: the same error, or the same vectors (to 1e-5) and token data."""
    if isinstance(expected, Exception):
        assert type(actual) is type(expected) and str(actual) == str(expected)
        return
    if isinstance(expected, tuple):  # encode_with_tokens
        _assert_same(actual[0], expected[0])
        _assert_same(actual[1], expected[1])
    elif isinstance(expected, list):  # encode_tokens
        assert len(actual) == len(expected)
        for got, want in zip(actual, expected, strict=True):
            assert got.tokens == want.tokens and got.truncated == want.truncated
            assert_close(got.embeddings, want.embeddings)
    else:
        assert actual.truncated == expected.truncated
        assert_close(actual.embeddings, expected.embeddings)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_concurrent_callers_each_get_exactly_their_own_rows(
    encoder: BertEncoder, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    calls = _calls(seed)
    expected = [_outcome(call, encoder) for call in calls]  # one at a time
    spy = Spy(monkeypatch)
    start = threading.Barrier(len(calls))

    def concurrently(call: Call) -> Any:
        start.wait()
        return _outcome(call, encoder)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        outcomes = list(pool.map(concurrently, calls))
    for outcome, want in zip(outcomes, expected, strict=True):
        _assert_same(outcome, want)
    # Not vacuous: passes were shared between callers, and large calls were split.
    assert max(spy.jobs_per_pass) > 1
    assert all(batch.shape[0] <= 8 for batch in spy.batches)
    assert all(batch.shape[0] == 1 or batch.size <= 160 for batch in spy.batches)


def test_concurrent_results_equal_plain_transformers(
    encoder: BertEncoder, reference: Reference
) -> None:
    rng = random.Random(7)
    texts = [_text(rng, rng.randint(1, 30)) for _ in range(40)]

    def one(text: str) -> np.ndarray:
        return encoder.encode([text], Pooling.MEAN, normalize=False, truncate=False).embeddings[0]

    with ThreadPoolExecutor(max_workers=16) as pool:
        vectors = list(pool.map(one, texts))
    for text, vector in zip(texts, vectors, strict=True):
        assert_close(vector, reference.mean(text))


# -- failures stay with their caller ----------------------------------------------------------


def test_a_failing_pass_fails_only_the_request_that_fails_alone(
    encoder: BertEncoder, monkeypatch: pytest.MonkeyPatch, reference: Reference
) -> None:
    spy = Spy(monkeypatch)
    spy.fail_on_token = int(reference.tokenizer.convert_tokens_to_ids("fox"))
    good = [["the cat sits", "a dog"], ["hello world"], ["我喜欢北京", "the sun"]]
    bad = ["a man", "the quick brown fox"]
    expected = [
        encoder.encode(texts, Pooling.CLS, normalize=True, truncate=False).embeddings
        for texts in good
    ]
    spy.pause()  # hold the first pass: everything else queues up behind it
    with ThreadPoolExecutor(max_workers=5) as pool:
        first = pool.submit(encoder.encode, ["first"], Pooling.CLS, normalize=True, truncate=False)
        spy.held.wait(timeout=10)
        futures = [
            pool.submit(encoder.encode, texts, Pooling.CLS, normalize=True, truncate=False)
            for texts in [*good, bad]
        ]
        _wait_until(lambda: encoder.queued == 7)
        spy.hold.set()
        first.result()
        for future, want in zip(futures, expected, strict=False):
            assert_close(future.result().embeddings, want)
        with pytest.raises(RuntimeError, match="injected failure"):
            futures[-1].result()
    assert max(spy.jobs_per_pass) == 4  # the four queued requests shared one pass


def test_an_over_long_text_fails_its_request_before_queueing(
    encoder: BertEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    with pytest.raises(InvalidArgumentError, match="input 1 has 82 tokens"):
        encoder.encode(["ok", "cat " * 80], Pooling.MEAN, normalize=True, truncate=False)
    assert spy.batches == [] and encoder.queued == 0


# -- queue limit, dropping, shutdown ----------------------------------------------------------


def _held_encoder(
    tiny_model_dir: Path, spy: Spy, **settings: Any
) -> tuple[BertEncoder, ThreadPoolExecutor, Future[Any]]:
    """An encoder whose worker is stuck in its first pass (``spy`` holds it)."""
    encoder = load_encoder(str(tiny_model_dir), batch_size=8, batch_wait_ms=0.0, **settings)
    spy.pause()
    pool = ThreadPoolExecutor(max_workers=4)
    first = pool.submit(encoder.encode, ["first"], Pooling.MEAN, normalize=True, truncate=False)
    spy.held.wait(timeout=10)
    return encoder, pool, first


def test_queue_over_its_limit_refuses_at_once(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    encoder, pool, first = _held_encoder(tiny_model_dir, spy, max_queue_depth=4)
    try:
        queued = pool.submit(
            encoder.encode, ["a", "b", "c"], Pooling.MEAN, normalize=True, truncate=False
        )
        _wait_until(lambda: encoder.queued == 3)
        with pytest.raises(OverloadedError, match=r"3 texts queued.*adds 2.*limit of 4"):
            encoder.encode(["d", "e"], Pooling.MEAN, normalize=True, truncate=False)
        encoder.encode_tokens([], truncate=False)  # nothing to queue: always fine
        spy.hold.set()
        assert queued.result().embeddings.shape == (3, 32)
        first.result()
        # An idle encoder takes a request larger than the limit.
        big = encoder.encode(["x"] * 10, Pooling.MEAN, normalize=True, truncate=False)
        assert big.embeddings.shape == (10, 32)
    finally:
        spy.hold.set()
        pool.shutdown()
        encoder.close()


def test_work_whose_caller_has_gone_is_dropped_unrun(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    encoder, pool, first = _held_encoder(tiny_model_dir, spy)
    gone = threading.Event()
    try:
        dropped = pool.submit(
            encoder.encode,
            ["dropped text"],
            Pooling.MEAN,
            normalize=True,
            truncate=False,
            gone=gone.is_set,
        )
        kept = pool.submit(encoder.encode, ["kept"], Pooling.MEAN, normalize=True, truncate=False)
        _wait_until(lambda: encoder.queued == 2)
        gone.set()
        spy.hold.set()
        with pytest.raises(DeadlineExceededError):
            dropped.result()
        assert kept.result().embeddings.shape == (1, 32)
        first.result()
        assert [batch.shape[0] for batch in spy.batches] == [1, 1]  # "first", then "kept"
    finally:
        spy.hold.set()
        pool.shutdown()
        encoder.close()


def test_close_fails_queued_work_and_stops_the_worker(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    before = _workers()
    encoder, pool, first = _held_encoder(tiny_model_dir, spy)
    queued = pool.submit(encoder.encode, ["queued"], Pooling.MEAN, normalize=True, truncate=False)
    _wait_until(lambda: encoder.queued == 1)
    mine = _workers() - before
    assert len(mine) == 1
    closing = threading.Thread(target=encoder.close)
    closing.start()
    spy.hold.set()
    closing.join(timeout=10)
    assert first.result().embeddings.shape == (1, 32)  # the pass in progress finishes
    with pytest.raises(UnavailableError, match="shutting down"):
        queued.result()
    with pytest.raises(UnavailableError):
        encoder.encode(["after"], Pooling.MEAN, normalize=True, truncate=False)
    encoder.close()  # idempotent
    pool.shutdown()
    assert not any(worker.is_alive() for worker in mine)


def test_a_collected_encoder_stops_its_worker(tiny_model_dir: Path) -> None:
    import gc

    before = _workers()
    encoder = load_encoder(str(tiny_model_dir))
    encoder.encode(["hello"], Pooling.MEAN, normalize=True, truncate=False)
    mine = _workers() - before
    assert len(mine) == 1
    del encoder
    gc.collect()
    _wait_until(lambda: not any(worker.is_alive() for worker in mine))


def _workers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == WORKER and t.is_alive()}


# -- what each pass reports (the server's batch-size and token metrics) ------------------------


def test_each_pass_reports_its_rows_and_real_tokens(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, reference: Reference
) -> None:
    reported: list[tuple[int, int]] = []
    encoder = load_encoder(
        str(tiny_model_dir),
        batch_size=8,
        batch_tokens=160,
        batch_wait_ms=20.0,
        on_batch=lambda rows, tokens: reported.append((rows, tokens)),
    )
    spy = Spy(monkeypatch)
    rng = random.Random(11)
    calls = [[_text(rng, rng.randint(1, 25)) for _ in range(rng.randint(1, 12))] for _ in range(8)]
    try:
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            list(pool.map(lambda texts: _encode(encoder, texts), calls))
    finally:
        encoder.close()
    # One report per pass, with the pass's rows and its non-padding tokens.
    assert reported == [(len(ids), int((ids != 0).sum())) for ids in spy.batches]
    texts = [text for texts in calls for text in texts]
    assert sum(rows for rows, _ in reported) == len(texts)
    assert sum(tokens for _, tokens in reported) == sum(
        len(reference.tokenizer(text)["input_ids"]) for text in texts
    )
    # Not vacuous: some passes carried padding, which the reports leave out.
    assert any((ids == 0).any() for ids in spy.batches)


def test_a_failing_pass_is_not_reported_and_a_failing_observer_fails_nothing(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, reference: Reference
) -> None:
    calls: list[tuple[int, int]] = []

    def observer(rows: int, tokens: int) -> None:
        calls.append((rows, tokens))
        raise RuntimeError("broken metrics")

    encoder = load_encoder(str(tiny_model_dir), on_batch=observer)
    spy = Spy(monkeypatch)
    spy.fail_on_token = int(reference.tokenizer.convert_tokens_to_ids("fox"))
    try:
        with pytest.raises(RuntimeError, match="injected failure"):
            _encode(encoder, ["the quick brown fox"])
        assert calls == []
        assert _encode(encoder, ["hello world"]).embeddings.shape == (1, 32)
        assert calls == [(1, 4)]  # [CLS] hello world [SEP]
    finally:
        encoder.close()


def _encode(encoder: BertEncoder, texts: list[str]) -> Any:
    return encoder.encode(texts, Pooling.MEAN, normalize=True, truncate=False)


# -- the plan's pass cost, and fairness ------------------------------------------------------


def test_every_pass_is_timed_for_the_cost_model(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    observed: list[int] = []
    monkeypatch.setattr(
        PassCostModel, "observe", lambda model, tokens, seconds: observed.append(tokens)
    )
    encoder = load_encoder(str(tiny_model_dir), batch_size=8, batch_tokens=160, batch_wait_ms=20.0)
    spy = Spy(monkeypatch)
    rng = random.Random(5)
    calls = [[_text(rng, rng.randint(1, 25)) for _ in range(rng.randint(1, 12))] for _ in range(6)]
    try:
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            list(pool.map(lambda texts: _encode(encoder, texts), calls))
    finally:
        encoder.close()
    # One observation per pass, of its padded tokens (rows x longest row).
    assert observed == [ids.size for ids in spy.batches]
    assert len({ids.size for ids in spy.batches}) > 1  # passes of several sizes to fit


class _FixedCost:
    """Stands in for the learned cost model: a pass always costs ``cost`` tokens."""

    cost = 0.0

    def observe(self, padded_tokens: int, seconds: float) -> None:
        pass

    @property
    def pass_tokens(self) -> float:
        return self.cost


@pytest.mark.parametrize(("cost", "passes"), [(0.0, 3), (1e6, 1)])
def test_the_plan_follows_the_pass_cost(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, cost: float, passes: int
) -> None:
    monkeypatch.setattr(_FixedCost, "cost", cost)
    monkeypatch.setattr("simsearch.encoder.scheduler.PassCostModel", _FixedCost)
    encoder = load_encoder(str(tiny_model_dir), batch_size=8, batch_wait_ms=0.0)
    spy = Spy(monkeypatch)
    texts = ["a", "b", "cat " * 10, "dog " * 10, "cat " * 30, "dog " * 30, "x", "y"]
    try:
        expected = [_encode(encoder, [text]).embeddings[0] for text in texts]
        spy.batches.clear()
        result = _encode(encoder, texts)
    finally:
        encoder.close()
    assert_close(result.embeddings, np.stack(expected))
    # Free passes: one per width (3, 12 and 32 tokens); a dear pass: all 8 rows in one.
    assert len(spy.batches) == passes
    assert len({ids.shape[1] for ids in spy.batches}) == passes


def test_a_fixed_pass_cost_setting_is_used_as_given() -> None:
    from simsearch.encoder.scheduler import SchedulerSettings

    with pytest.raises(ValueError, match="pass_tokens"):
        SchedulerSettings(pass_tokens=-1.0)
    assert SchedulerSettings().pass_tokens is None  # learned by default


def test_a_small_request_behind_a_large_one_waits_one_window(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, reference: Reference
) -> None:
    spy = Spy(monkeypatch)
    encoder, pool, first = _held_encoder(tiny_model_dir, spy)  # batch_size 8: windows of 16
    marker = int(reference.tokenizer.convert_tokens_to_ids("fox"))
    try:
        large = pool.submit(_encode, encoder, [f"the cat {i % 7}" for i in range(64)])
        _wait_until(lambda: encoder.queued == 64)
        small = pool.submit(_encode, encoder, ["the quick brown fox"])
        _wait_until(lambda: encoder.queued == 65)
        spy.hold.set()
        first.result(), large.result(), small.result()
    finally:
        spy.hold.set()
        pool.shutdown()
        encoder.close()
    rows = [batch.shape[0] for batch in spy.batches]
    small_pass = next(i for i, ids in enumerate(spy.batches) if (ids == marker).any())
    # The small request ran in the large one's first window (16 rows), not after all 64.
    assert sum(rows[1 : small_pass + 1]) <= 16
    assert sum(rows) == 1 + 64 + 1


def _delay(**changes: Any) -> float:
    state: dict[str, Any] = {
        "now": 10.0,
        "oldest": 10.0,
        "queued_rows": 5,
        "queued_jobs": 5,
        "expected_jobs": 32,
        "batch_size": 64,
        "wait_s": 0.002,
        "last_window_s": 0.0,
        "last_window_end": 0.0,
    }
    state.update(changes)
    return fill_delay(**state)


def test_a_window_is_due_at_once_with_a_full_batch_or_everyone_back() -> None:
    assert _delay(queued_rows=64) == 0.0
    assert _delay(queued_jobs=32) == 0.0  # every caller expected back is back
    assert _delay(queued_jobs=1, expected_jobs=1) == 0.0  # a lone caller never waits
    assert _delay(queued_jobs=1, expected_jobs=0) == 0.0  # nothing to expect after idling


def test_a_window_waits_for_callers_still_coming_back_within_bounds() -> None:
    # Callers missing: wait until the oldest has waited batch_wait_ms ...
    assert _delay() == pytest.approx(0.002)
    assert _delay(now=10.0015) == pytest.approx(0.0005)
    # ... or a quarter of the last window's run time, if longer ...
    assert _delay(last_window_s=0.040) == pytest.approx(0.010)
    assert _delay(last_window_s=0.004) == pytest.approx(0.002)
    # ... counted from the end of the last window for work that queued while it ran (the
    # callers it answered are coming back to share the next pass) ...
    ended = {"oldest": 9.960, "last_window_s": 0.040, "last_window_end": 10.0}
    assert _delay(**ended) == pytest.approx(0.010)
    assert _delay(**ended, now=10.004) == pytest.approx(0.006)
    # ... and never longer.
    assert _delay(**ended, now=10.011) == 0.0
    assert _delay(now=10.050, last_window_s=0.040) == 0.0


def test_the_callers_expected_back_are_those_answered_and_those_waiting(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a window, the scheduler expects back the callers it answered plus those that
    queued meanwhile: concurrent callers are expected together (so their next requests share
    a pass), and a lone caller alone (so it never waits)."""
    spy = Spy(monkeypatch)
    encoder, pool, first = _held_encoder(tiny_model_dir, spy)
    scheduler = encoder._scheduler
    try:
        queued = [pool.submit(_encode, encoder, [f"text {i}"]) for i in range(3)]
        _wait_until(lambda: encoder.queued == 3)
        spy.hold.set()
        for future in [first, *queued]:
            future.result()
        _wait_until(lambda: scheduler._expected_jobs == 3)  # the three, answered together
        _encode(encoder, ["alone"])
        _wait_until(lambda: scheduler._expected_jobs == 1)
    finally:
        spy.hold.set()
        pool.shutdown()
        encoder.close()


def test_the_submit_that_brings_every_expected_caller_back_wakes_the_worker(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Submits wake the worker only when a window may be due at once; the one that completes
    the expected callers must, or the window would wait out its fill delay (here a minute)."""
    encoder = load_encoder(str(tiny_model_dir), batch_size=8, batch_wait_ms=60_000.0)
    spy = Spy(monkeypatch)
    spy.pause()
    pool = ThreadPoolExecutor(max_workers=4)
    try:
        first = pool.submit(_encode, encoder, ["first"])
        spy.held.wait(timeout=10)
        three = [pool.submit(_encode, encoder, [f"text {i}"]) for i in range(3)]
        _wait_until(lambda: encoder.queued == 3)
        spy.hold.set()
        first.result(timeout=30)  # 4 callers expected back now: the first and the 3 queued
        assert encoder.queued == 3  # waiting for the first's caller
        fourth = pool.submit(_encode, encoder, ["the first caller again"])
        for future in [*three, fourth]:
            future.result(timeout=30)  # not the minute of the fill delay
        assert spy.jobs_per_pass[-1] == 4  # the four shared one pass
    finally:
        spy.hold.set()
        pool.shutdown()
        encoder.close()
