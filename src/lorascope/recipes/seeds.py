"""seeds (PAPER.md Fig. 22): the rank sweep's r = 1 and r = 8 at several seeds, and the spread of the counts.

`spread`: per task, rank and ε, the n, mean, standard deviation, min and max over seeds of the model's
intruder count (k fixed) of the final checkpoint, over the runs that did not diverge (how many did is kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lorascope.experiments.context import Context, Tables
from lorascope.experiments.divergence import kept
from lorascope.experiments.stats import spread
from lorascope.recipes.rank_sweep import lora_alpha


@dataclass(frozen=True)
class Grid:
    """The [grid] section of a seeds file."""

    tasks: list[str] = field(default_factory=lambda: ["rt_polarity"])
    ranks: list[int] = field(default_factory=lambda: [1, 8])
    alpha: str | float = "2r"
    lr_product: float = 2.4e-3
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])


TABLES = {
    "runs": "one row per (rank, seed) run: final accuracy, forgetting, intruders",
    "evals": "every evaluation of every run",
    "epsilon_sweep": "model intruder count at k over the ε grid, per seed",
    "k_fraction_sweep": "model intruder count at ε over k fractions, per seed",
    "matrices": "per matrix of each final checkpoint",
    "spread": "per task, rank, ε: n, mean, std, min, max of the intruder count over the seeds that did not diverge",
}
FIGURES = {
    "fig22_seed_spread": {"table": "spread", "x": "epsilon", "y": "mean", "error": "std", "series": ["rank"]},
    "fig22_per_seed": {"table": "epsilon_sweep", "x": "epsilon", "y": "intruders", "series": ["rank", "seed"]},
}


def run(ctx: Context) -> Tables:
    """Train each (task, rank, seed); summarise the ε sweep over seeds."""
    grid = ctx.experiment.grid
    runs = [(ctx.experiment.train_config(task=task, method="lora", rank=rank, alpha=lora_alpha(grid.alpha, rank),
                                         lr=None, lora_lr_product=grid.lr_product, seed=seed), {})
            for task in grid.tasks for rank in grid.ranks for seed in grid.seeds]
    tables = ctx.train(runs)
    tables["spread"] = []
    for task in grid.tasks:
        for rank in grid.ranks:
            sweep = [r for r in tables.get("epsilon_sweep", []) if r["task"] == task and r["rank"] == rank]
            for eps in sorted({r["epsilon"] for r in sweep}):
                at = [r for r in sweep if r["epsilon"] == eps]
                counts = [r["intruders"] for r in kept(at)]
                tables["spread"].append({"task": task, "rank": rank, "k": ctx.experiment.analysis.k,
                                         "epsilon": eps, **spread(counts),
                                         "diverged_left_out": len(at) - len(counts)})
    return tables
