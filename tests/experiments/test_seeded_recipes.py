"""grid.seeds of lr_sweep and intervention on a tiny LLaMA: every run at each seed, ρ's interval over the runs of
all seeds, intervention rows per seed, and claim 5.7 read over them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from experiments.test_recipes import quick, tables
from lorascope.errors import InputError
from lorascope.recipes.intervention import Grid as InterventionGrid
from lorascope.recipes.lr_sweep import Grid as LrGrid
from lorascope.report.claims import scaling_reduces_forgetting
from lorascope.report.load import load_inputs

SEEDS = [0, 1, 2]


def test_lr_sweep_trains_each_run_at_every_seed_and_correlates_over_all_of_them(tiny, cache_dir, tmp_path):
    result = quick("lr_sweep", tmp_path, tiny, cache_dir, train={"train_examples": 32},
                   grid={"seeds": SEEDS, "lora_lrs": [1e-2]})
    t = tables(result)
    assert sorted((r["method"], r["seed"]) for r in t["runs"]) == sorted(
        (method, seed) for method in ("full", "lora") for seed in SEEDS)
    assert len({r["run_id"] for r in t["runs"]}) == 6
    kept = [r for r in t["runs"] if not r["diverged"]]
    for row in t["correlations"]:
        assert row["runs"] == len(kept) and row["confidence"] == 0.95
        if row["rho_low"] is None:
            assert row["rho_high"] is None and row["note"]
        else:
            assert -1 <= row["rho_low"] <= row["rho_high"] <= 1


def test_intervention_rows_exist_per_seed_and_claim_5_7_reads_them(tiny, cache_dir, tmp_path):
    result = quick("intervention", tmp_path, tiny, cache_dir, train={"max_steps": 8},
                   grid={"seeds": SEEDS, "lambdas": [0.7, 1.0], "targets": ["top-intruder"]})
    t = tables(result)
    assert sorted(r["seed"] for r in t["runs"]) == SEEDS
    rows = t["intervention"]
    assert sorted((r["seed"], r["lambda"]) for r in rows) == sorted((s, lam) for s in SEEDS for lam in (0.7, 1.0))
    run_of = {r["run_id"]: r["seed"] for r in t["runs"]}
    assert all(run_of[r["run_id"]] == r["seed"] for r in rows)  # each row is its own seed's trained run
    (run,) = load_inputs([result.out]).runs
    claim = scaling_reduces_forgetting([run])
    kept = [r for r in rows if r["lambda"] == 0.7 and not r["diverged"]]
    assert f"over {len(kept)} scaled run(s)" in claim.measured
    # the tiny model's runs may all be flagged diverged; the claim over the same rows as if they were not:
    good = replace(run, tables={**run.tables, "intervention": tuple({**r, "diverged": False} for r in rows)})
    claim = scaling_reduces_forgetting([good])
    values = [r for r in rows if r["lambda"] == 0.7 and r["forgetting_change_pct"] is not None]
    assert claim.measured.endswith("over 3 scaled run(s), seeds 0, 1, 2") and f"n = {len(values)}" in claim.measured
    if len(values) == 3:
        assert "CI [" in claim.measured


def test_seeds_must_not_repeat():
    for grid in (LrGrid, InterventionGrid):
        with pytest.raises(InputError, match="seeds must not repeat"):
            grid(seeds=[0, 1, 0])
        assert grid().seeds == []  # empty: every run at the [train] seed, as before
