"""The Ray encoder's own logic without a cluster: error mapping, the front's wait (caller gone,
time limit, cancellation), the replica's ``caller_gone``, and the application's name."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest
from ray.exceptions import ActorDiedError, GetTimeoutError, RayTaskError
from ray.serve.exceptions import BackPressureError, ReplicaUnavailableError, RequestCancelledError

from simsearch.callers import caller_gone
from simsearch.encoder import EncoderOptions
from simsearch.encoder.ray_errors import from_ray
from simsearch.encoder.ray_replica import Reply, _run
from simsearch.encoder.ray_serve import DeploymentShape, RayEncoder, app_name, portable
from simsearch.encoder.ray_session import RaySession
from simsearch.errors import (
    DeadlineExceededError,
    InternalError,
    InvalidArgumentError,
    LimitExceededError,
    OverloadedError,
    UnavailableError,
)
from simsearch.types import ModelInfo, Pooling

# -- error mapping --------------------------------------------------------------------------


def _task_error(cause: BaseException) -> RayTaskError:
    return RayTaskError("encode", "Traceback (most recent call last): ...", cause)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (BackPressureError(num_queued_requests=8, max_queued_requests=8), OverloadedError),
        (ActorDiedError(), UnavailableError),
        (ReplicaUnavailableError("r1"), UnavailableError),
        (ConnectionError("GCS gone"), UnavailableError),
        (GetTimeoutError("slow"), DeadlineExceededError),
        (TimeoutError("slow"), DeadlineExceededError),
        (RequestCancelledError("req"), DeadlineExceededError),
        (asyncio.CancelledError(), DeadlineExceededError),
        (_task_error(ActorDiedError()), UnavailableError),
        (_task_error(ValueError("a bug on the replica")), InternalError),
        (RuntimeError("a bug in the front"), InternalError),
    ],
)
def test_ray_failures_map_to_documented_errors(
    raised: BaseException, expected: type[Exception]
) -> None:
    error = from_ray(raised, replicas="app")
    assert type(error) is expected
    assert "Traceback" not in str(error)


def test_a_simsearch_error_raised_on_a_replica_is_itself() -> None:
    original = InvalidArgumentError("input 0 has 99 tokens")
    assert from_ray(_task_error(original), replicas="app") is original


# -- the front's wait -----------------------------------------------------------------------


class FakeResponse:
    """A Serve response that answers ``reply`` after ``polls`` polls (never if None), or
    raises ``error`` when polled."""

    def __init__(
        self, reply: Reply | None = None, *, polls: int = 0, error: Exception | None = None
    ):
        self.reply, self.polls, self.error = reply, polls, error
        self.cancelled = threading.Event()

    def result(self, *, timeout_s: float) -> Reply:
        if self.error is not None:
            raise self.error
        if self.reply is None or self.polls > 0:
            self.polls -= 1
            raise TimeoutError("not yet")
        return self.reply

    def cancel(self) -> None:
        self.cancelled.set()


class FakeHandle:
    """A deployment handle whose every method returns ``response``; counts calls."""

    def __init__(self, response: FakeResponse) -> None:
        self.response = response
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, method: str) -> Any:
        handle = self

        class Method:
            def remote(self, *args: Any) -> FakeResponse:
                handle.calls.append((method, args))
                return handle.response

        return Method()


INFO = ModelInfo("tiny", "f" * 16, 32, 64, 100, encoder="ray", replicas=2)


def _encoder(response: FakeResponse, timeout_s: float = 30.0) -> tuple[RayEncoder, FakeHandle]:
    handle = FakeHandle(response)
    admission: Any = None
    return RayEncoder(handle, "app", INFO, admission, RaySession("", False), timeout_s), handle


def _encode(encoder: RayEncoder) -> Any:
    return encoder.encode(["a"], Pooling.MEAN, normalize=True, truncate=False)


def test_one_call_per_batch_with_the_replicas_answer() -> None:
    encoder, handle = _encoder(FakeResponse(Reply("vectors"), polls=2))
    assert encoder.encode(["a", "b", "c"], Pooling.MEAN, normalize=True, truncate=False) == (
        "vectors"
    )
    assert [method for method, _ in handle.calls] == ["encode"]
    assert handle.calls[0][1][0] == ["a", "b", "c"]


def test_a_gone_caller_sends_nothing() -> None:
    encoder, handle = _encoder(FakeResponse(Reply("vectors")))
    token = caller_gone.set(lambda: True)
    try:
        with pytest.raises(DeadlineExceededError, match="went away"):
            _encode(encoder)
    finally:
        caller_gone.reset(token)
    assert handle.calls == []


def test_a_caller_going_while_waiting_cancels_the_call() -> None:
    response = FakeResponse(None)
    encoder, _ = _encoder(response)
    checks = iter([False, False, True])  # present when sending and at the first poll
    token = caller_gone.set(lambda: next(checks))
    try:
        with pytest.raises(DeadlineExceededError, match="cancelled"):
            _encode(encoder)
    finally:
        caller_gone.reset(token)
    assert response.cancelled.wait(5)


def test_a_call_past_its_time_limit_is_cancelled() -> None:
    response = FakeResponse(None)
    encoder, _ = _encoder(response, timeout_s=0.2)
    with pytest.raises(DeadlineExceededError, match=r"did not answer within 0\.2 s"):
        _encode(encoder)
    assert response.cancelled.wait(5)


def test_a_replicas_error_is_raised_as_itself() -> None:
    encoder, _ = _encoder(FakeResponse(Reply(error=InvalidArgumentError("too long"))))
    with pytest.raises(InvalidArgumentError, match="too long"):
        _encode(encoder)


def test_back_pressure_while_waiting_is_resource_exhausted() -> None:
    encoder, _ = _encoder(FakeResponse(error=BackPressureError(4, 4)))
    with pytest.raises(LimitExceededError, match="saturated"):
        _encode(encoder)


# -- the replica's side ---------------------------------------------------------------------


def test_replica_sets_caller_gone_and_cancellation_flips_it() -> None:
    seen: list[Any] = []
    started, release = threading.Event(), threading.Event()

    def work() -> str:
        gone = caller_gone.get()
        assert gone is not None
        seen.append(gone())
        started.set()
        release.wait(5)
        seen.append(gone())
        return "done"

    async def main() -> None:
        task = asyncio.ensure_future(_run(work, timeout_s=60))
        await asyncio.to_thread(started.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()

    asyncio.run(main())
    assert seen == [False, True]


def test_replica_caller_is_gone_after_the_calls_time() -> None:
    reply = asyncio.run(_run(lambda: caller_gone.get()(), timeout_s=0))  # type: ignore[misc]
    assert reply == Reply(True)


def test_replica_returns_simsearch_errors_as_values() -> None:
    def refuse() -> None:
        raise LimitExceededError("queue full")

    reply = asyncio.run(_run(refuse, timeout_s=60))
    assert isinstance(reply.error, LimitExceededError)


# -- the application's name -----------------------------------------------------------------


def test_app_name_is_the_same_for_the_same_settings_only() -> None:
    options = EncoderOptions(model="default")
    shape = DeploymentShape(replicas=2, replica_cpus=1.0)
    assert app_name(options, shape) == app_name(EncoderOptions(model="default"), shape)
    assert app_name(options, shape) != app_name(options, dataclasses.replace(shape, replicas=3))
    assert app_name(options, shape) != app_name(
        dataclasses.replace(options, dtype="bfloat16"), shape
    )


def test_portable_options_hold_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "model").mkdir()
    monkeypatch.chdir(tmp_path)
    options = portable(
        EncoderOptions(model="model", cache_dir=Path("cache"), int8_calibration=Path("c.txt"))
    )
    assert options.model == str(tmp_path / "model")
    assert options.cache_dir == tmp_path / "cache"
    assert options.int8_calibration == tmp_path / "c.txt"
    assert portable(EncoderOptions(model="default")).model == "default"
