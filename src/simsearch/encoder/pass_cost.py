"""What a forward pass costs beyond its padded tokens, learned from the passes themselves.

``plan_batches`` trades padding against passes with one number: the fixed cost of a pass in
padded-token equivalents. It is not a constant of the model: per-pass overhead (Python,
framework dispatch, weight packing) and how much faster large matrix products run than small
ones differ between engines (torch, OpenVINO), precisions and machines. Measured on
all-MiniLM-L6-v2 on 2 cores, a straight line through pass times fitted over the pass sizes the
scheduler really runs gives anything from ~60 tokens (OpenVINO, tiny passes) to ~300 (torch
bf16, 200-1000 token passes), so the scheduler times its passes and fits that line as it goes.

The fit is least squares of ``seconds = a + b * padded_tokens`` with exponential forgetting
(recent passes count most, so a change of load or engine is followed); the estimate is
``a / b``, clamped to a sane range. Until the passes seen span a range of sizes wide enough to
fit a slope (and whenever the fit is degenerate) the prior is used. A pass that took far
longer than the line predicts (the machine was busy elsewhere) counts as at most 4x the
prediction, so one stall does not swing the plan.
"""

from __future__ import annotations

from simsearch.encoder.batching import PASS_TOKENS

__all__ = ["PassCostModel"]

_MIN_PASSES = 8  # passes (forgetting-weighted) before the fit replaces the prior
_MIN_SPREAD = 1.5  # largest / smallest pass size needed to fit a slope
_MIN_VARIATION = 0.1  # and a standard deviation of pass sizes of at least 10% of their mean
_STALL = 4.0  # a pass counts as at most this many times its predicted time


class PassCostModel:
    """Running estimate of a pass's fixed cost in padded tokens. Not thread-safe: the
    scheduler's worker alone calls :meth:`observe`.

    ``prior``: the estimate until enough passes are seen; ``memory``: about how many recent
    passes the fit remembers; ``low`` / ``high``: the range the estimate is clamped to.
    """

    def __init__(
        self,
        prior: float = PASS_TOKENS,
        *,
        memory: int = 256,
        low: float = 16.0,
        high: float = 2048.0,
    ) -> None:
        if not 0 < low <= prior <= high:
            raise ValueError(f"need 0 < low <= prior <= high, got {low}, {prior}, {high}")
        if memory < 1:
            raise ValueError(f"memory must be >= 1, got {memory}")
        self._prior = prior
        self._keep = 1.0 - 1.0 / memory
        self._low, self._high = low, high
        # Forgetting-weighted sums: count, x, y, x^2, x*y (x padded tokens, y seconds).
        self._n = self._x = self._y = self._xx = self._xy = 0.0
        self._smallest = self._largest = 0
        self._line: tuple[float, float] | None = None  # (a, b) once fitted
        self._estimate = prior

    @property
    def pass_tokens(self) -> float:
        """The current estimate: what one pass costs beyond its padded tokens."""
        return self._estimate

    def observe(self, padded_tokens: int, seconds: float) -> None:
        """Learn from one pass of ``padded_tokens`` (rows x longest row) taking ``seconds``."""
        if padded_tokens <= 0 or not seconds > 0:
            return
        x = float(padded_tokens)
        if self._line is not None:
            a, b = self._line
            seconds = min(seconds, _STALL * (a + b * x))
        keep = self._keep
        self._n = self._n * keep + 1.0
        self._x = self._x * keep + x
        self._y = self._y * keep + seconds
        self._xx = self._xx * keep + x * x
        self._xy = self._xy * keep + x * seconds
        self._smallest = min(self._smallest or padded_tokens, padded_tokens)
        self._largest = max(self._largest, padded_tokens)
        self._refit()

    def _refit(self) -> None:
        if self._n < _MIN_PASSES or self._largest < _MIN_SPREAD * self._smallest:
            return
        spread = self._n * self._xx - self._x * self._x  # n^2 x the variance of pass sizes
        if spread <= (_MIN_VARIATION * self._x) ** 2:
            return
        slope = (self._n * self._xy - self._x * self._y) / spread
        intercept = (self._y - slope * self._x) / self._n
        if slope <= 0.0:  # noise, not a cost model: keep the last estimate
            return
        self._line = (max(intercept, 0.0), slope)
        self._estimate = min(self._high, max(self._low, intercept / slope))
