"""The one Spearman (lorascope.correlation): scipy's ρ and p, ties ranked as scipy ranks them, undefined cases said."""

from __future__ import annotations

import pytest
from scipy.stats import spearmanr

from lorascope.correlation import Correlation, spearman


@pytest.mark.parametrize(("x", "y"), [
    ([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5]),
    ([0, 0, 1, 1, 2, 2, 3], [0.1, 0.1, 0.5, 0.3, 0.3, 0.9, 0.9]),  # ties on both sides: average ranks
    ([3, 3, 3, 1, 2, 5], [10, 9, 9, 1, 4, 12]),
])
def test_rho_and_p_are_scipys_also_with_ties(x, y):
    expected = spearmanr(x, y)
    c = spearman(x, y)
    assert (c.rho, c.p, c.n, c.note) == (pytest.approx(expected.statistic, abs=1e-15),
                                         pytest.approx(expected.pvalue, abs=1e-15), len(x), "")


def test_ties_use_average_ranks():
    # ranks of x: 1.5 1.5 3 4; of y: 1 2 3.5 3.5 -> Pearson of the ranks
    c = spearman([5, 5, 7, 9], [1, 2, 8, 8])
    rx, ry = [1.5, 1.5, 3, 4], [1, 2, 3.5, 3.5]
    mx, my = sum(rx) / 4, sum(ry) / 4
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    var = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    assert c.rho == pytest.approx(cov / var)


def test_pairs_with_a_missing_side_are_dropped():
    assert spearman([1, None, 2, 3, 4], [1, 5, 3, None, 2]) == spearman([1, 2, 4], [1, 3, 2])
    assert spearman([1, None, 2, 3, 4], [1, 5, 3, None, 2]).n == 3


def test_undefined_cases_say_why():
    assert spearman([1, 2], [1, 2]) == Correlation(None, None, 2, "fewer than 3 points")
    assert spearman([1, 1, 1], [1, 2, 3]) == Correlation(None, None, 3, "x is constant: ρ is undefined")
    assert spearman([1, 2, 3], [4, 4, 4]) == Correlation(None, None, 3, "y is constant: ρ is undefined")
