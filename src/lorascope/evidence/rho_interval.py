"""A seeded bootstrap interval of Spearman's ρ that resamples whole runs, and the verdicts read from it.

The points of a correlation are evaluations of training runs (each run gives one point per evaluation), so
points of one run are not independent. The bootstrap draws runs with replacement, all of a drawn run's points
together (a cluster, or "paired", bootstrap: with one point per run it is scipy.stats.bootstrap(paired=True)),
and computes ρ over the drawn points; the interval is the percentile interval of those ρ.
A resample can leave ρ undefined (every drawn run has the same x, e.g. no intruders): such resamples are
counted, and when more than `MAX_UNDEFINED` of them are undefined there is no interval, since the ρ seen
then rests on the few runs that vary. Hand-written because scipy.stats.bootstrap cannot count them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from lorascope.correlation import spearman
from lorascope.evidence.interval import CONFIDENCE, MIN_N, RESAMPLES

MAX_UNDEFINED = 0.05  # largest share of resamples with ρ undefined that still gives an interval


@dataclass(frozen=True)
class RhoInterval:
    """ρ and p over n points of `runs` runs, with the run-bootstrap interval [low, high] (None: no interval)."""

    rho: float | None
    p: float | None
    n: int
    runs: int
    low: float | None
    high: float | None
    undefined: int = 0  # resamples in which ρ was undefined
    resamples: int = RESAMPLES
    confidence: float = CONFIDENCE
    note: str = ""  # why ρ or its interval is missing

    def text(self) -> str:
        """'ρ = 0.76, 95 % CI [0.41, 0.93] over 12 runs, p = 0.0012, n = 24' (the parts that exist)."""
        if self.rho is None:
            return f"ρ undefined, n = {self.n}, {self.runs} runs"
        out = f"ρ = {self.rho:.3g}"
        if self.low is not None and self.high is not None:
            out += f", {round(self.confidence * 100)} % CI [{self.low:.3g}, {self.high:.3g}] over {self.runs} runs"
        else:
            out += f" (no interval, {self.runs} runs)"
        if self.p is not None:
            out += f", p = {self.p:.2g}"
        return out + f", n = {self.n}"


def _rhos(x, y):
    """Spearman's ρ of each row of two (draws × points) arrays (average ranks for ties), nan where a row is
    constant."""
    import numpy as np
    from scipy.stats import rankdata

    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx, ry = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    denom = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (rx * ry).sum(axis=1) / denom, np.nan)


def spearman_interval(x: Sequence[float | None], y: Sequence[float | None], runs: Sequence[Hashable], *,
                      seed: int = 0, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                      max_undefined: float = MAX_UNDEFINED) -> RhoInterval:
    """Spearman's ρ and p of the (x, y) points (pairs with a None are dropped, as lorascope.correlation does),
    and the percentile interval of ρ over `resamples` seeded bootstrap draws of the runs (`runs[i]` names the
    run of point i). No interval below MIN_N runs or when ρ is undefined in over `max_undefined` of the draws."""
    import numpy as np

    if not len(x) == len(y) == len(runs):
        raise ValueError(f"x, y and runs must have one entry per point; got {len(x)}, {len(y)}, {len(runs)}")
    points = [(a, b, r) for a, b, r in zip(x, y, runs, strict=True) if a is not None and b is not None]
    stat = spearman([a for a, _, _ in points], [b for _, b, _ in points])
    members: dict[Hashable, list[int]] = {}
    for i, (_, _, r) in enumerate(points):
        members.setdefault(r, []).append(i)
    n_runs = len(members)
    base = RhoInterval(stat.rho, stat.p, stat.n, n_runs, None, None, 0, resamples, confidence, stat.note)
    if stat.rho is None:
        return base
    if n_runs < MIN_N:
        return _with(base, f"{n_runs} run(s): an interval of ρ needs ≥ {MIN_N} runs")
    xs = np.array([float(a) for a, _, _ in points])
    ys = np.array([float(b) for _, b, _ in points])
    groups = [np.array(idx) for idx in members.values()]
    rng = np.random.default_rng(seed)
    by_length: dict[int, list] = {}  # draws of equal total length are ranked together, row by row
    for _ in range(resamples):
        idx = np.concatenate([groups[g] for g in rng.integers(0, n_runs, n_runs)])
        by_length.setdefault(len(idx), []).append(idx)
    rhos = np.concatenate([_rhos(xs[np.stack(idx)], ys[np.stack(idx)]) for idx in by_length.values()])
    defined = rhos[np.isfinite(rhos)]
    undefined = resamples - len(defined)
    if undefined > max_undefined * resamples:
        return RhoInterval(stat.rho, stat.p, stat.n, n_runs, None, None, undefined, resamples, confidence,
                           f"ρ undefined in {undefined} of {resamples} run resamples (x or y constant: the "
                           f"correlation rests on few runs); no interval")
    tail = (1.0 - confidence) / 2.0
    low, high = (float(v) for v in np.quantile(defined, [tail, 1.0 - tail]))
    return RhoInterval(stat.rho, stat.p, stat.n, n_runs, low, high, undefined, resamples, confidence,
                       f"ρ undefined in {undefined} of {resamples} run resamples, left out" if undefined else "")


def _with(found: RhoInterval, note: str) -> RhoInterval:
    return RhoInterval(found.rho, found.p, found.n, found.runs, None, None, 0, found.resamples, found.confidence,
                       note)


def correlates(found: RhoInterval) -> bool | None:
    """Positive correlation: True when the interval lies wholly above 0, False when wholly at or below 0, None
    without an interval or when it contains values on both sides."""
    if found.low is None or found.high is None:
        return None
    return True if found.low > 0 else False if found.high <= 0 else None


def no_significant_correlation(found: RhoInterval) -> bool | None:
    """No significant correlation: True when the interval contains 0 (low ≤ 0 ≤ high), False when it lies
    wholly on one side of 0, None without an interval."""
    if found.low is None or found.high is None:
        return None
    return found.low <= 0.0 <= found.high


CORRELATES_RULE = (f"holds when the {round(CONFIDENCE * 100)} % bootstrap interval of Spearman's ρ (runs "
                   f"resampled with all their evaluations, ≥ {MIN_N} runs, diverged runs left out) lies wholly "
                   "above 0; fails when it lies wholly at or below 0; undecided otherwise or without an interval")
NO_CORRELATION_RULE = (f"holds when the {round(CONFIDENCE * 100)} % bootstrap interval of Spearman's ρ (runs "
                       f"resampled with all their evaluations, ≥ {MIN_N} runs, diverged runs left out) contains 0 "
                       "(no significant correlation); fails when it lies wholly above or wholly below 0; "
                       "undecided without an interval")
