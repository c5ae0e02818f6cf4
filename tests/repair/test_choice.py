"""The λ choice rule on measurement tables with known answers (a pure function: no model)."""

from __future__ import annotations

import math

import pytest

from lorascope.pipelines.repair_choice import Point, choose_lambda, quality_drop_pct, rule_text

REF_ACC = Point(1.0, 0.80, 0.100)  # accuracy 0.80, forgetting 0.100
REF_LOSS = Point(1.0, 2.00, 0.100)  # task loss 2.00


def test_least_forgetting_within_budget_accuracy():
    points = [Point(0.0, 0.70, 0.010), Point(0.5, 0.797, 0.040), Point(0.9, 0.799, 0.080)]
    # budget 0.5 % of 0.80 = 0.004: λ=0 drops 12.5 % (out), λ=0.5 drops 0.375 % (in), λ=0.9 0.125 % (in)
    assert choose_lambda(points, REF_ACC, 0.5, higher_is_better=True).lam == 0.5
    assert choose_lambda(points, REF_ACC, 20.0, higher_is_better=True).lam == 0.0
    assert choose_lambda(points, REF_ACC, 0.2, higher_is_better=True).lam == 0.9


def test_loss_budget_is_a_rise():
    points = [Point(0.0, 2.20, 0.01), Point(0.5, 2.009, 0.05), Point(0.7, 1.95, 0.07)]
    # 0.5 % of 2.00 = 0.01: λ=0 rises 10 % (out), λ=0.5 rises 0.45 % (in), λ=0.7 improves (in)
    assert choose_lambda(points, REF_LOSS, 0.5, higher_is_better=False).lam == 0.5
    assert choose_lambda(points, REF_LOSS, 0.0, higher_is_better=False).lam == 0.7
    # the same numbers read as accuracy: λ=0 and λ=0.5 are better than the reference, λ=0.7 is worse
    assert choose_lambda(points, REF_LOSS, 0.5, higher_is_better=True).lam == 0.0


def test_ties_go_to_the_smaller_change():
    points = [Point(0.0, 0.80, 0.05), Point(0.5, 0.80, 0.05), Point(0.9, 0.80, 0.05), Point(0.25, 0.80, 0.06)]
    assert choose_lambda(points, REF_ACC, 0.5, True).lam == 0.9
    above = [Point(1.2, 0.80, 0.05), Point(0.9, 0.80, 0.05), Point(0.7, 0.80, 0.05)]
    assert choose_lambda(above, REF_ACC, 0.5, True).lam == 0.9  # |1 − 0.9| = 0.1 < |1 − 1.2| = 0.2


def test_equal_distance_ties_go_to_the_larger_lambda():
    points = [Point(0.75, 0.80, 0.05), Point(1.25, 0.80, 0.05)]
    assert choose_lambda(points, REF_ACC, 0.5, True).lam == 1.25


def test_none_within_budget():
    points = [Point(0.0, 0.70, 0.01), Point(0.5, 0.75, 0.02)]
    assert choose_lambda(points, REF_ACC, 0.5, True) is None
    assert choose_lambda([], REF_ACC, 0.5, True) is None


def test_more_forgetting_than_unscaled_is_never_chosen():
    points = [Point(0.5, 0.80, 0.100), Point(0.9, 0.81, 0.150)]  # equal and higher forgetting
    assert choose_lambda(points, REF_ACC, 100.0, True) is None


def test_non_finite_measurements_are_not_chosen():
    points = [Point(0.0, math.nan, 0.01), Point(0.5, 0.80, math.inf), Point(0.9, 0.80, 0.09)]
    assert choose_lambda(points, REF_ACC, 0.5, True).lam == 0.9


def test_quality_drop_pct():
    assert quality_drop_pct(0.76, 0.80, True) == pytest.approx(5.0)
    assert quality_drop_pct(0.84, 0.80, True) == pytest.approx(-5.0)
    assert quality_drop_pct(2.1, 2.0, False) == pytest.approx(5.0)
    assert quality_drop_pct(1.0, 0.0, True) == math.inf


def test_rule_text_names_budget_and_direction():
    assert "0.5 %" in rule_text(0.5, True) and "drop in accuracy" in rule_text(0.5, True)
    assert "rise in task loss" in rule_text(2, False)
