"""Spearman rank correlation with its two-sided p-value (scipy.stats when importable; ρ alone otherwise)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Correlation:
    """ρ and p over n pairs; both None when undefined (fewer than 3 pairs, or a constant side)."""

    rho: float | None
    p: float | None
    n: int


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for t in range(i, j + 1):
            ranks[order[t]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _pearson(a: Sequence[float], b: Sequence[float]) -> float:
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    return cov / math.sqrt(va * vb)


def spearman(x: Sequence[float], y: Sequence[float]) -> Correlation:
    """Spearman's ρ of paired values (ties get average ranks)."""
    n = len(x)
    if n < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return Correlation(None, None, n)
    try:
        from scipy.stats import spearmanr
    except ImportError:
        return Correlation(_pearson(_ranks(x), _ranks(y)), None, n)
    res = spearmanr(x, y)
    rho, p = float(res.statistic), float(res.pvalue)
    return Correlation(rho if math.isfinite(rho) else None, p if math.isfinite(p) else None, n)
