"""only_b (PAPER.md Fig. 10): LoRA with A fixed to a random semi-orthogonal matrix and only B trained,
against standard LoRA at the same ranks and learning rates.

`comparison`: per task, rank and ε, the model intruder count (k fixed) of standard LoRA and of only-B.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lorascope.experiments.context import Context, Tables
from lorascope.recipes.rank_sweep import lora_alpha


@dataclass(frozen=True)
class Grid:
    """The [grid] section of an only_b file."""

    tasks: list[str] = field(default_factory=lambda: ["rt_polarity"])
    ranks: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 64])
    alpha: str | float = "2r"
    lr_product: float = 2.4e-3


TABLES = {
    "runs": "one row per run (freeze_a tells only-B from standard LoRA)",
    "evals": "every evaluation of every run",
    "epsilon_sweep": "model intruder count at k over the ε grid",
    "k_fraction_sweep": "model intruder count at ε over k fractions",
    "matrices": "per matrix of each final checkpoint",
    "comparison": "per task, rank, ε: intruders of standard LoRA and of only-B LoRA side by side",
}
FIGURES = {
    "fig10_only_b_intruders_vs_epsilon": {"table": "epsilon_sweep", "x": "epsilon", "y": "intruders",
                                          "series": ["rank", "freeze_a"]},
    "fig10_comparison": {"table": "comparison"},
}


def run(ctx: Context) -> Tables:
    """Train standard and only-B LoRA at each (task, rank); compare their ε sweeps."""
    grid = ctx.experiment.grid
    runs = [(ctx.experiment.train_config(task=task, method="lora", rank=rank, alpha=lora_alpha(grid.alpha, rank),
                                         lr=None, lora_lr_product=grid.lr_product, freeze_a=frozen), {})
            for task in grid.tasks for rank in grid.ranks for frozen in (False, True)]
    tables = ctx.train(runs)
    counts = {(r["task"], r["rank"], r["freeze_a"], r["epsilon"]): r["intruders"]
              for r in tables.get("epsilon_sweep", [])}
    tables["comparison"] = [
        {"task": task, "rank": rank, "k": ctx.experiment.analysis.k, "epsilon": eps,
         "lora_intruders": counts.get((task, rank, False, eps)),
         "only_b_intruders": counts.get((task, rank, True, eps))}
        for task in grid.tasks for rank in grid.ranks for eps in ctx.experiment.analysis.epsilons]
    return tables
