"""Summary statistics the recipes report: percent change, spread (Spearman: lorascope.correlation)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


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
