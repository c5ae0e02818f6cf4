"""Seed intervals and the verdict read from them; quality matching of LoRA and full fine-tuning runs."""

from __future__ import annotations

import statistics

import pytest

from lorascope.evidence.interval import Interval, bootstrap_interval, verdict
from lorascope.evidence.matching import MatchRule, match_pairs


def test_interval_holds_the_mean_and_sd_and_brackets_the_mean():
    values = [1.0, 2.0, 4.0, 3.0, 5.0]
    iv = bootstrap_interval(values)
    assert iv.n == 5 and iv.mean == 3.0 and iv.sd == pytest.approx(statistics.stdev(values))
    assert min(values) <= iv.low < 3.0 < iv.high <= max(values)
    assert bootstrap_interval(values) == iv  # seeded: the same interval every time
    assert "95 % CI [" in iv.text() and iv.text().endswith("n = 5")


def test_too_few_values_give_no_interval_and_no_verdict():
    iv = bootstrap_interval([2.0, 3.0])
    assert iv.low is None and iv.high is None and verdict(iv, ">", 0.0) is None
    assert bootstrap_interval([]).mean is None
    with pytest.raises(ValueError, match="finite"):
        bootstrap_interval([1.0, float("nan"), 2.0])


def test_constant_values_give_a_point_interval():
    iv = bootstrap_interval([0, 0, 0, 0])
    assert (iv.low, iv.high) == (0.0, 0.0) and verdict(iv, "<", 1.0) is True and verdict(iv, ">", 0.0) is False


def test_verdict_holds_only_when_the_whole_interval_is_on_the_papers_side():
    assert verdict(Interval(3, 2.0, 1.0, 0.5, 3.5), ">", 0.0) is True
    assert verdict(Interval(3, 0.5, 1.0, -0.5, 1.5), ">", 0.0) is None
    assert verdict(Interval(3, -2.0, 1.0, -3.0, -1.0), ">", 0.0) is False
    assert verdict(Interval(3, -2.0, 1.0, -3.0, -1.0), "<", 0.0) is True
    assert verdict(Interval(3, 0.0, 0.0, 0.0, 0.0), ">", 0.0) is False  # touching counts as the other side


def _run(run_id, method, acc, seed=0, task="t", diverged=False, metric="accuracy"):
    return {"run_id": run_id, "method": method, "task": task, "model": "m", "seed": seed, "quality_metric": metric,
            metric: acc, "diverged": diverged}


def test_each_lora_run_gets_the_closest_full_run_within_two_points():
    runs = [_run("f1", "full", 0.70), _run("f2", "full", 0.735), _run("l1", "lora", 0.73),
            _run("l2", "lora", 0.80), _run("l3", "lora", 0.70, task="other")]
    pairs = match_pairs(runs)
    assert [(p.lora["run_id"], p.full["run_id"]) for p in pairs] == [("l1", "f2")]
    assert pairs[0].gap == pytest.approx(0.005) and pairs[0].text() == "accuracy 0.73 vs full 0.735"
    assert match_pairs(runs, MatchRule(accuracy_points=0.10))[1].full["run_id"] == "f2"


def test_diverged_runs_never_match_and_same_seed_is_preferred():
    runs = [_run("f0", "full", 0.70, seed=0), _run("f1", "full", 0.70, seed=1), _run("l1", "lora", 0.70, seed=1),
            _run("l2", "lora", 0.70, seed=2, diverged=True)]
    assert [(p.lora["run_id"], p.full["run_id"]) for p in match_pairs(runs)] == [("l1", "f1")]


def test_lm_objective_matches_on_relative_task_loss():
    runs = [_run("f", "full", 3.00, metric="task_loss"), _run("a", "lora", 3.05, metric="task_loss"),
            _run("b", "lora", 3.10, metric="task_loss")]
    assert [p.lora["run_id"] for p in match_pairs(runs)] == ["a"]  # 1.7 % vs 3.3 % of 3.00
