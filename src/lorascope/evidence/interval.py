"""Mean ± sd and a seeded bootstrap interval of a handful of per-seed values, and the verdict read from it.

Verdict rule (`verdict`): a claim that the quantity is above (below) a threshold holds only when the whole
interval lies above (below) it; it fails when the whole interval lies on the other side (touching the
threshold counts as the other side); otherwise, or with fewer than `MIN_N` values, it is undecided (None).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

MIN_N = 3  # fewer values give no interval worth the name
CONFIDENCE = 0.95
RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """n values: their mean, sample sd, and the bootstrap (BCa, else percentile) interval of the mean."""

    n: int
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None
    confidence: float = CONFIDENCE

    def text(self, digits: int = 3) -> str:
        """'m ± sd, 95 % CI [lo, hi], n = N' (the parts that exist)."""
        if self.mean is None:
            return "n = 0"
        out = f"{self.mean:.{digits}g}"
        if self.sd is not None:
            out += f" ± {self.sd:.{digits}g}"
        if self.low is not None and self.high is not None:
            out += f", {round(self.confidence * 100)} % CI [{self.low:.{digits}g}, {self.high:.{digits}g}]"
        return out + f", n = {self.n}"


def bootstrap_interval(values: Sequence[float], *, seed: int = 0, confidence: float = CONFIDENCE,
                       resamples: int = RESAMPLES) -> Interval:
    """Interval of the mean of `values` (scipy.stats.bootstrap, seeded); no interval below MIN_N values."""
    vals = [float(v) for v in values]
    if any(not math.isfinite(v) for v in vals):
        raise ValueError(f"values must be finite; got {vals}")
    n = len(vals)
    if n == 0:
        return Interval(0, None, None, None, None, confidence)
    mean = statistics.fmean(vals)
    sd = statistics.stdev(vals) if n > 1 else None
    if n < MIN_N:
        return Interval(n, mean, sd, None, None, confidence)
    if len(set(vals)) == 1:  # every resample has the same mean
        return Interval(n, mean, sd, mean, mean, confidence)
    import numpy as np
    from scipy.stats import bootstrap

    low = high = float("nan")
    for method in ("BCa", "percentile"):
        res = bootstrap((np.asarray(vals),), np.mean, confidence_level=confidence, n_resamples=resamples,
                        method=method, rng=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            break
    return Interval(n, mean, sd, low, high, confidence)


def verdict(interval: Interval, side: Literal[">", "<"], threshold: float) -> bool | None:
    """True when the interval lies wholly on `side` of `threshold`, False when wholly on the other, else None."""
    if interval.low is None or interval.high is None:
        return None
    if side == ">":
        return True if interval.low > threshold else False if interval.high <= threshold else None
    if side == "<":
        return True if interval.high < threshold else False if interval.low >= threshold else None
    raise ValueError(f"side must be '>' or '<'; got {side!r}")


def rule_text(side: str, threshold: float, what: str) -> str:
    """The verdict rule in words, for a claim's rule column."""
    return (f"holds when the {round(CONFIDENCE * 100)} % bootstrap interval of the mean {what} (≥ {MIN_N} values) "
            f"lies wholly {'above' if side == '>' else 'below'} {threshold:g}; fails when it lies wholly on the "
            "other side; undecided otherwise")
