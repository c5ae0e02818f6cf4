"""Spearman rank correlation with its two-sided p-value (scipy.stats.spearmanr), saying why when it is undefined.

The one Spearman of the package: the recipes' correlation tables and the report's training figure both use it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Correlation:
    """ρ and p over n pairs; both None, with the reason in `note`, when undefined."""

    rho: float | None
    p: float | None
    n: int
    note: str = ""


def spearman(x: Sequence[float | None], y: Sequence[float | None]) -> Correlation:
    """Spearman's ρ of the pairs where neither value is None (ties get average ranks, as scipy ranks them)."""
    from scipy.stats import spearmanr

    pairs = [(a, b) for a, b in zip(x, y, strict=True) if a is not None and b is not None]
    n = len(pairs)
    if n < 3:
        return Correlation(None, None, n, "fewer than 3 points")
    xs, ys = zip(*pairs, strict=True)
    if len(set(xs)) == 1 or len(set(ys)) == 1:
        side = "x" if len(set(xs)) == 1 else "y"
        return Correlation(None, None, n, f"{side} is constant: ρ is undefined")
    res = spearmanr(xs, ys)
    rho, p = float(res.statistic), float(res.pvalue)
    if not math.isfinite(rho):
        return Correlation(None, None, n, "ρ is undefined (not a finite number)")
    return Correlation(rho, p if math.isfinite(p) else None, n)
