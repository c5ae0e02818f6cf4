"""Axis scales and tick positions: 'nice' linear ticks, decade ticks on log axes."""

from __future__ import annotations

import math
from dataclasses import dataclass


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """About `count` round tick values covering [lo, hi] (steps of 1, 2, 2.5 or 5 × 10^n)."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        hi, lo = (hi + 1, lo - 1) if hi != 0 else (1.0, 0.0)
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if integer:
        step = max(1.0, round(step))
    start = math.floor(lo / step + 1e-9) * step
    end = math.ceil(hi / step - 1e-9) * step
    return [round(start + i * step, 12) for i in range(round((end - start) / step) + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten (and 2×, 5× when few decades) covering [lo, hi], lo > 0."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    mults = (1, 2, 5) if b - a <= 3 else (1,)
    ticks = [m * 10.0**e for e in range(a, b + 1) for m in mults if lo / 1.0001 <= m * 10.0**e <= hi * 1.0001]
    return ticks or [lo, hi]


def tick_label(v: float) -> str:
    """A compact tick label: 0.25, 3, 1.5k, 2e-05."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 10000:
        return f"{v / 1000:g}k"
    if a < 1e-3:
        return f"{v:.0e}"
    return f"{round(v, 6):g}"


@dataclass(frozen=True)
class Scale:
    """Maps data values in [lo, hi] to pixels in [p0, p1] (linearly or on log10)."""

    lo: float
    hi: float
    p0: float
    p1: float
    log: bool = False

    def __call__(self, v: float) -> float:
        if self.log:
            a, b, v = math.log10(self.lo), math.log10(self.hi), math.log10(max(v, self.lo * 1e-3))
        else:
            a, b = self.lo, self.hi
        f = 0.5 if b == a else (v - a) / (b - a)
        return self.p0 + f * (self.p1 - self.p0)


def padded_range(values: list[float], log: bool = False, include_zero: bool = False) -> tuple[float, float]:
    """A data range with a little headroom; [0, 1] when there are no values."""
    vals = [v for v in values if v is not None and math.isfinite(v) and (v > 0 or not log)]
    if not vals:
        return (1.0, 10.0) if log else (0.0, 1.0)
    lo, hi = min(vals), max(vals)
    if log:
        return lo / 1.3, hi * 1.3
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.06
    return (lo if include_zero and lo == 0 else lo - pad), hi + pad
