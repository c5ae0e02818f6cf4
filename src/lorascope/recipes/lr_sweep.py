"""lr_sweep (PAPER.md §2.5; Fig. 7): LoRA at one rank over learning rates, plus full fine-tuning.

Per epoch (every evaluation of every run, in `evals`): intruders, accuracy, forgetting. `correlations`:
Spearman's ρ with its p-value of intruders vs forgetting and vs accuracy, across all runs (every seed of
`seeds`) and all evaluations after step 0, with the seeded bootstrap interval of ρ over runs (rho_low,
rho_high: lorascope.evidence.rho_interval) that the claims' verdicts read (the paper reports ρ = 0.971 and
−0.34 on RoBERTa/MNLI).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lorascope.errors import InputError
from lorascope.evidence.rho_interval import spearman_interval
from lorascope.experiments.context import Context, Tables
from lorascope.experiments.divergence import kept


@dataclass(frozen=True)
class Grid:
    """The [grid] section of an lr_sweep file."""

    tasks: list[str] = field(default_factory=lambda: ["rt_polarity"])
    rank: int = 8
    lora_lrs: list[float] = field(default_factory=lambda: [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3])
    full_lrs: list[float] = field(default_factory=lambda: [1e-5])
    seeds: list[int] = field(default_factory=list)  # each run at every seed (ρ's interval); empty: [train] seed

    def __post_init__(self) -> None:
        if len(set(self.seeds)) != len(self.seeds):
            raise InputError(f"seeds must not repeat; got {self.seeds!r}")


TABLES = {
    "runs": "one row per run: final accuracy, forgetting, intruders",
    "evals": "every evaluation (each epoch end, and every eval_every steps): intruders, accuracy, forgetting",
    "correlations": "Spearman ρ and p of intruders vs forgetting / accuracy, across runs and evaluations (step > 0), "
                    "with the 95 % bootstrap interval of ρ over runs (rho_low, rho_high; runs: how many)",
    "epsilon_sweep": "model intruder count at k over the ε grid, final checkpoint",
    "k_fraction_sweep": "model intruder count at ε over k fractions, final checkpoint",
    "matrices": "per matrix of the final checkpoint: intruders, ΔW effective rank, norms",
}
FIGURES = {
    "fig7_intruders_per_epoch": {"table": "evals", "x": "epoch", "y": "intruders", "series": ["method", "lr"]},
    "fig7_accuracy_per_epoch": {"table": "evals", "x": "epoch", "y": "accuracy", "series": ["method", "lr"]},
    "fig7_forgetting_per_epoch": {"table": "evals", "x": "epoch", "y": "forgetting", "series": ["method", "lr"]},
    "fig7_correlations": {"table": "correlations"},
}


def correlations(evals: list[dict], scope: str) -> list[dict]:
    """Spearman of intruders vs forgetting and vs the task quality (accuracy, or the task loss of lm runs) over
    the evaluations after step 0 of the runs not flagged diverged, with ρ's bootstrap interval over those runs
    (the note names how many runs were left out, and why an interval is missing)."""
    points = [row for row in kept(evals) if row["step"] > 0]
    left_out = sorted({row["run_id"] for row in evals if row.get("diverged") is True})
    quality = points[0].get("quality_metric") or "accuracy" if points else "accuracy"
    out = []
    for target in ("forgetting", quality):
        found = spearman_interval([r["intruders"] for r in points], [r[target] for r in points],
                                  [r["run_id"] for r in points])
        row = {"scope": scope, "x": "intruders", "y": target, "rho": found.rho, "p": found.p, "n": found.n,
               "note": found.note, "rho_low": found.low, "rho_high": found.high, "runs": found.runs,
               "confidence": found.confidence, "diverged_left_out": len(left_out)}
        if left_out:
            row["note"] = "; ".join(filter(None, [found.note, f"{len(left_out)} diverged run(s) left out: "
                                                  + ", ".join(left_out)]))
        out.append(row)
    return out


def run(ctx: Context) -> Tables:
    """Train every (task, seed, lr) run; correlate intruders with forgetting and accuracy per task and overall."""
    grid = ctx.experiment.grid
    runs = []
    seeded = [{"seed": seed} for seed in grid.seeds] or [{}]
    for task in grid.tasks:
        for seed in seeded:
            runs += [(ctx.experiment.train_config(task=task, method="lora", rank=grid.rank, lr=lr, **seed), {})
                     for lr in grid.lora_lrs]
            runs += [(ctx.experiment.train_config(task=task, method="full", lr=lr, **seed), {})
                     for lr in grid.full_lrs]
    tables = ctx.train(runs)
    rows = []
    for task in grid.tasks:
        rows += correlations([r for r in tables["evals"] if r["task"] == task], f"task {task}")
    if len(grid.tasks) > 1:
        rows += correlations(tables["evals"], "all tasks")
    tables["correlations"] = rows
    return tables
