"""Summary statistics the recipes report: Spearman correlation with p-value, percent change, spread."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def spearman(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """Spearman's ρ and its two-sided p-value (scipy); both None, with the reason, when undefined."""
    from scipy.stats import spearmanr

    pairs = [(a, b) for a, b in zip(x, y, strict=True) if a is not None and b is not None]
    n = len(pairs)
    if n < 3:
        return {"rho": None, "p": None, "n": n, "note": "fewer than 3 points"}
    xs, ys = zip(*pairs, strict=True)
    if len(set(xs)) == 1 or len(set(ys)) == 1:
        side = "x" if len(set(xs)) == 1 else "y"
        return {"rho": None, "p": None, "n": n, "note": f"{side} is constant: ρ is undefined"}
    rho, p = spearmanr(xs, ys)
    return {"rho": float(rho), "p": float(p), "n": n, "note": ""}


def percent_change(value: float | None, reference: float | None) -> float | None:
    """100·(value − reference)/|reference| (Table 3's reading); None when either is missing or reference is 0."""
    if value is None or reference is None or reference == 0 or not math.isfinite(reference):
        return None
    return 100.0 * (value - reference) / abs(reference)


def spread(values: Sequence[float]) -> dict[str, Any]:
    """n, mean, sample standard deviation (None below 2 values), min and max of `values`."""
    vals = list(values)
    return {"n": len(vals), "mean": statistics.fmean(vals) if vals else None,
            "std": statistics.stdev(vals) if len(vals) > 1 else None,
            "min": min(vals) if vals else None, "max": max(vals) if vals else None}
