"""Texts of a caller that has gone (cancelled, past its deadline) never reach the model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simsearch.callers import caller_gone
from simsearch.errors import DeadlineExceededError
from simsearch.server.rpc_decorators import rpc
from simsearch.types import Pooling


def test_work_of_a_gone_caller_is_dropped(tiny_encoder: Any) -> None:
    token = caller_gone.set(lambda: True)
    try:
        with pytest.raises(DeadlineExceededError):
            tiny_encoder.encode(["a text"], Pooling.MEAN, normalize=True, truncate=False)
    finally:
        caller_gone.reset(token)
    kept = tiny_encoder.encode(["a text"], Pooling.MEAN, normalize=True, truncate=False)
    assert np.isfinite(kept.embeddings).all()


class _Context:
    def __init__(self, active: bool, remaining: float | None) -> None:
        self.active, self.remaining = active, remaining

    def is_active(self) -> bool:
        return self.active

    def time_remaining(self) -> float | None:
        return self.remaining

    def abort(self, code: Any, message: str) -> None:
        raise AssertionError(f"aborted: {code} {message}")


@pytest.mark.parametrize(
    ("active", "remaining", "gone"), [(True, 5.0, False), (True, None, False), (False, 5.0, True)]
)
def test_each_rpc_tells_the_encoder_whether_its_caller_is_still_there(
    active: bool, remaining: float | None, gone: bool
) -> None:
    seen: list[bool] = []

    class Servicer:
        @rpc
        def Call(self, request: Any, context: Any) -> None:  # noqa: N802 - an RPC name
            check = caller_gone.get()
            assert check is not None
            seen.append(check())

    context = _Context(active, remaining)
    Servicer().Call(None, context)  # type: ignore[arg-type]
    assert seen == [gone]
    assert caller_gone.get() is None  # reset after the call
