"""intervention (PAPER.md §2.6; Fig. 8, 12, Tables 3-4): scale intruder dimensions of trained runs by λ.

For each chosen run and target (top intruder, the neighbour control, the whole-update baseline), every λ
gives a model whose accuracy and forgetting are measured; `intervention` holds them with the percent
changes against the unscaled fine-tuned model (docs/experiments.md: ΔX% = 100·(X_λ − X_ft)/|X_ft|).
Every run is trained at each of `seeds`, so each (target, λ) has one row per seed: the claims' intervals are
over seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lorascope.errors import InputError
from lorascope.experiments.context import Context, Planned, Tables
from lorascope.experiments.jobs import scale_and_evaluate, trained_matrix_patterns
from lorascope.experiments.stats import percent_change
from lorascope.recipes.rank_sweep import lora_alpha

TARGETS = ("top-intruder", "all-intruders", "neighbour", "whole-update")


@dataclass(frozen=True)
class Grid:
    """The [grid] section of an intervention file."""

    tasks: list[str] = field(default_factory=lambda: ["rt_polarity"])
    ranks: list[int] = field(default_factory=lambda: [1, 8])
    alpha: str | float = "2r"
    lora_lrs: list[float] = field(default_factory=lambda: [5e-3])
    lambdas: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.7, 0.9, 1.0, 1.5, 2.0])
    targets: list[str] = field(default_factory=lambda: ["top-intruder", "neighbour", "whole-update"])
    seeds: list[int] = field(default_factory=list)  # each run at every seed (claims' intervals); empty: [train] seed

    def __post_init__(self) -> None:
        if len(set(self.seeds)) != len(self.seeds):
            raise InputError(f"seeds must not repeat; got {self.seeds!r}")
        for target in self.targets:
            if target not in TARGETS:
                raise InputError(f"targets entries must be one of {', '.join(TARGETS)}; got {target!r}")
        if any(lam < 0 for lam in self.lambdas):
            raise InputError(f"lambdas must be ≥ 0; got {self.lambdas!r}")


TABLES = {
    "runs": "the fine-tuned runs that are scaled (one per task, rank, lr and seed)",
    "evals": "every evaluation of those runs",
    "intervention": "per run (so per seed), target, λ: accuracy, forgetting, and percent changes against the "
                    "unscaled model",
    "epsilon_sweep": "model intruder count at k over the ε grid of each run",
    "k_fraction_sweep": "model intruder count at ε over k fractions of each run",
    "matrices": "per matrix of each run",
}
FIGURES = {
    "fig8_accuracy_vs_lambda": {"table": "intervention", "x": "lambda", "y": "accuracy", "series": ["target"],
                                "facet": ["task", "rank", "seed"], "baseline": "reference_accuracy"},
    "fig8_forgetting_vs_lambda": {"table": "intervention", "x": "lambda", "y": "lm_loss", "series": ["target"],
                                  "facet": ["task", "rank", "seed"], "baseline": "base_lm_loss"},
    "table3_percent_changes": {"table": "intervention", "columns": ["lambda", "accuracy_change_pct",
                                                                    "forgetting_change_pct"]},
}


REFERENCE = ("quality_metric", "accuracy", "task_loss", "task_perplexity", "lm_loss", "forgetting")


def run(ctx: Context) -> Tables:
    """Train the chosen LoRA runs (each seed), then scale each by every λ for every target and measure the results."""
    grid = ctx.experiment.grid
    seeded = [{"seed": seed} for seed in grid.seeds] or [{}]
    configs = [ctx.experiment.train_config(task=task, method="lora", rank=rank, alpha=lora_alpha(grid.alpha, rank),
                                           lr=lr, **seed)
               for task in grid.tasks for seed in seeded for rank in grid.ranks for lr in grid.lora_lrs]
    tables = ctx.train([(config, {}) for config in configs])
    checkpoints = {row["run_id"]: row["checkpoint"] for row in tables["runs"]}
    # the unscaled model's numbers are its run's final evaluation (train measured that checkpoint on the same
    # test split and text, with the same scorer), so no job measures it again
    finals = {row["run_id"]: {key: row[key] for key in REFERENCE} for row in tables["runs"]}
    analysis = ctx.experiment.analysis
    jobs = []
    for config in configs:
        run_dir = ctx.run_dir(config)
        for target in grid.targets:
            settings = {"train": ctx.settings_of(config), "target": target, "lambdas": grid.lambdas,
                        "k": analysis.k, "epsilon": analysis.epsilon}
            jobs.append(Planned("scale", settings, scale_and_evaluate,
                                (config, checkpoints[run_dir.name], target, list(grid.lambdas),
                                 trained_matrix_patterns(run_dir), str(ctx.out / "scaled" / run_dir.name / target),
                                 analysis, ctx.cache_dir, finals[run_dir.name])))
    rows = [row for result in ctx.run(jobs).values() for row in result["intervention"]]
    flags = {row["run_id"]: row.get("diverged") for row in tables["runs"]}
    for row in rows:
        row["diverged"] = flags.get(row["run_id"])
        row["accuracy_change_pct"] = percent_change(row["accuracy"], row["reference_accuracy"])
        row["task_loss_change_pct"] = percent_change(row["task_loss"], row["reference_task_loss"])
        row["forgetting_change_pct"] = percent_change(row["forgetting"], row["reference_forgetting"])
    tables["intervention"] = rows
    return tables
