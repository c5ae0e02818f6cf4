"""The bootstrap interval of Spearman's ρ over runs, on data with known answers, and the verdicts read from it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import bootstrap, spearmanr

from lorascope.evidence.rho_interval import (
    RhoInterval,
    correlates,
    no_significant_correlation,
    spearman_interval,
)


def test_a_perfectly_monotone_relation_gives_the_interval_at_one():
    x = [float(i) for i in range(24)]
    y = [np.exp(v / 5) for v in x]  # monotone, not linear: ρ = 1 whatever the draw
    found = spearman_interval(x, y, [i // 2 for i in range(24)])  # 12 runs of 2 evaluations
    assert found.rho == pytest.approx(1.0) and found.runs == 12 and found.n == 24
    assert found.low == pytest.approx(1.0) and found.high == pytest.approx(1.0) and found.undefined == 0
    assert correlates(found) is True and no_significant_correlation(found) is False
    decreasing = spearman_interval(x, [-v for v in y], [i // 2 for i in range(24)])
    assert decreasing.high == pytest.approx(-1.0) and correlates(decreasing) is False


def test_independent_noise_gives_an_interval_that_straddles_zero():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=60).tolist(), rng.normal(size=60).tolist()
    found = spearman_interval(x, y, list(range(60)))
    assert found.low < 0 < found.high and found.high - found.low > 0.2
    assert correlates(found) is None and no_significant_correlation(found) is True
    assert spearman_interval(x, y, list(range(60))) == found  # seeded: the same interval every time
    assert spearman_interval(x, y, list(range(60)), seed=1) != found


def test_one_point_per_run_is_scipys_paired_bootstrap():
    """With one evaluation per run the run bootstrap is scipy.stats.bootstrap(paired=True, method="percentile"):
    the same seeded generator draws the same run indices, so the intervals agree to rounding."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    y = 0.6 * x + rng.normal(size=40)
    found = spearman_interval(x.tolist(), y.tolist(), list(range(40)), seed=5)
    ref = bootstrap((x, y), lambda a, b: spearmanr(a, b).statistic, paired=True, vectorized=False,
                    n_resamples=found.resamples, method="percentile", rng=np.random.default_rng(5))
    assert found.rho == pytest.approx(spearmanr(x, y).statistic)
    assert (found.low, found.high) == (pytest.approx(ref.confidence_interval.low, abs=1e-9),
                                       pytest.approx(ref.confidence_interval.high, abs=1e-9))
    assert 0 < found.low < found.high < 1


def test_runs_are_resampled_whole_so_many_evaluations_of_few_runs_give_no_interval():
    x = [float(i) for i in range(20)]
    found = spearman_interval(x, x, [i // 10 for i in range(20)])  # 20 points but 2 runs
    assert found.rho == pytest.approx(1.0) and found.runs == 2 and found.low is None and found.high is None
    assert "needs ≥ 3 runs" in found.note and correlates(found) is None
    assert no_significant_correlation(found) is None


def test_a_correlation_resting_on_one_run_has_no_interval():
    """Only one run has intruders: in about a third of the draws that run is missing and ρ is undefined."""
    x = [0.0] * 22 + [5.0, 6.0]
    y = [0.1 * (i % 5) for i in range(22)] + [2.0, 3.0]
    found = spearman_interval(x, y, [i // 2 for i in range(24)])
    assert found.rho is not None and found.rho > 0 and found.low is None
    assert found.undefined > 0.2 * found.resamples and "rests on few runs" in found.note
    assert correlates(found) is None


def test_pairs_with_a_missing_value_are_dropped_and_undefined_rho_is_said():
    found = spearman_interval([1, None, 2, 3, 4], [1, 5, 2, 3, 4], [0, 1, 2, 3, 4])
    assert found.n == 4 and found.runs == 4
    constant = spearman_interval([1, 1, 1, 1], [1, 2, 3, 4], [0, 1, 2, 3])
    assert constant.rho is None and "constant" in constant.note and constant.low is None
    with pytest.raises(ValueError, match="one entry per point"):
        spearman_interval([1, 2], [1, 2], [0])


def test_text_and_verdicts_on_the_edges():
    found = RhoInterval(0.5, 0.01, 24, 12, 0.0, 0.8)
    assert found.text() == "ρ = 0.5, 95 % CI [0, 0.8] over 12 runs, p = 0.01, n = 24"
    assert correlates(found) is None  # touching 0 is not wholly above it
    assert correlates(RhoInterval(-0.5, 0.01, 24, 12, -0.8, 0.0)) is False
    assert no_significant_correlation(found) is True
    assert no_significant_correlation(RhoInterval(0.5, 0.01, 24, 12, 0.1, 0.8)) is False
    assert RhoInterval(None, None, 4, 4, None, None).text() == "ρ undefined, n = 4, 4 runs"
