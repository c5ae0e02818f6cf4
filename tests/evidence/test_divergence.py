"""The divergence rule on numbers with known answers, and the flag the recipes write into their tables."""

from __future__ import annotations

import math

import pytest

from lorascope.evidence.divergence import DivergenceRule, diverged, majority_rate
from lorascope.experiments.divergence import kept, mark_diverged


def test_majority_rate_is_the_share_of_the_commonest_label():
    assert majority_rate([0, 1, 1, 1]) == 0.75 and majority_rate([]) is None


def test_accuracy_within_two_standard_errors_of_the_majority_class_is_diverged():
    # the run: majority 0.605 on 200 examples, SE = sqrt(.605·.395/200) = 0.03457; limit 0.6741
    se = math.sqrt(0.605 * 0.395 / 200)
    flag, reason = diverged("accuracy", 0.605, 0.5, majority=0.605, n=200)
    assert flag is True and f"{0.605 + 2 * se:.3f}" in reason
    assert diverged("accuracy", 0.605 + 2 * se - 1e-6, 0.5, majority=0.605, n=200)[0] is True
    assert diverged("accuracy", 0.605 + 2 * se + 1e-6, 0.5, majority=0.605, n=200) == (False, "")
    assert diverged("accuracy", 0.735, 0.5, majority=0.605, n=200) == (False, "")


def test_the_untrained_model_is_the_reference_when_it_beats_the_majority_class():
    assert diverged("accuracy", 0.72, 0.70, majority=0.55, n=1000)[0] is True  # limit 0.70 + 2·0.0145
    assert diverged("accuracy", 0.74, 0.70, majority=0.55, n=1000)[0] is False


def test_forgetting_above_the_limit_is_diverged_whatever_the_accuracy():
    flag, reason = diverged("accuracy", 0.9, 0.5, majority=0.5, n=100, forgetting=25.8)
    assert flag is True and "25.8" in reason
    assert diverged("accuracy", 0.9, 0.5, majority=0.5, n=100, forgetting=0.99)[0] is False
    assert diverged("accuracy", 0.9, 0.5, majority=0.5, n=100, forgetting=0.5,
                    rule=DivergenceRule(max_forgetting=0.4))[0] is True


def test_lm_objective_compares_the_task_loss_with_the_untrained_models():
    assert diverged("task_loss", 3.0, 2.9)[0] is True
    assert diverged("task_loss", 2.9, 2.9)[0] is True  # not below
    assert diverged("task_loss", 2.5, 2.9) == (False, "")
    assert diverged("task_loss", 2.5, None)[0] is None


def test_missing_quality_is_undecidable_not_silently_kept_or_dropped():
    assert diverged("accuracy", None, 0.5, majority=0.5, n=10)[0] is None
    assert diverged("accuracy", 0.9, None)[0] is None
    with pytest.raises(ValueError, match="unknown quality metric"):
        diverged("bleu", 0.5, 0.5)


def _tables():
    runs = [{"run_id": "good", "quality_metric": "accuracy", "accuracy": 0.80, "forgetting": 0.2,
             "majority_rate": 0.6, "test_examples": 200},
            {"run_id": "flat", "quality_metric": "accuracy", "accuracy": 0.61, "forgetting": 0.1,
             "majority_rate": 0.6, "test_examples": 200},
            {"run_id": "broken", "quality_metric": "accuracy", "accuracy": 0.80, "forgetting": 25.8,
             "majority_rate": 0.6, "test_examples": 200}]
    evals = [{"run_id": r["run_id"], "step": s, "quality_metric": "accuracy", "accuracy": a}
             for r in runs for s, a in ((0, 0.5), (10, r["accuracy"]))]
    sweep = [{"run_id": r["run_id"], "epsilon": 0.5, "intruders": 3} for r in runs]
    return {"runs": runs, "evals": evals, "epsilon_sweep": sweep}


def test_mark_diverged_flags_every_row_of_a_diverged_run():
    tables = mark_diverged(_tables())
    flags = {r["run_id"]: r["diverged"] for r in tables["runs"]}
    assert flags == {"good": False, "flat": True, "broken": True}
    assert all(r["untrained_quality"] == 0.5 for r in tables["runs"])
    assert {r["run_id"]: r["diverged"] for r in tables["epsilon_sweep"]} == flags
    assert {r["run_id"] for r in kept(tables["evals"])} == {"good"}
    assert "forgetting 25.8" in next(r for r in tables["runs"] if r["run_id"] == "broken")["diverged_reason"]


def test_lr_sweep_correlations_leave_diverged_runs_out_and_say_so():
    from lorascope.recipes.lr_sweep import correlations

    tables = mark_diverged(_tables())
    for row in tables["evals"]:
        row.update(intruders=row["step"], forgetting=0.1 * row["step"])
    rows = correlations(tables["evals"], "task t")
    assert all(r["diverged_left_out"] == 2 and "2 diverged run(s) left out: broken, flat" in r["note"]
               for r in rows)
    assert all(r["n"] == 1 for r in rows)  # only the good run's step-10 point
