"""data_size (PAPER.md §5.11): LoRA r = 1 and r = 8 trained on growing fractions of the training set.

Each fraction f trains on the first round(f · train_examples) examples of the task's training pool (the
same seeded order, so a smaller set is a prefix of a larger one), for the file's `max_steps` or `epochs`.
The paper expects the r = 8 count to grow with the fraction while r = 1 stays roughly flat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lorascope.errors import InputError
from lorascope.experiments.context import Context, Tables
from lorascope.recipes.rank_sweep import lora_alpha


@dataclass(frozen=True)
class Grid:
    """The [grid] section of a data_size file."""

    tasks: list[str] = field(default_factory=lambda: ["rt_polarity"])
    ranks: list[int] = field(default_factory=lambda: [1, 8])
    alpha: str | float = "2r"
    lr_product: float = 8e-2
    fractions: list[float] = field(default_factory=lambda: [0.125, 0.25, 0.5, 1.0])

    def __post_init__(self) -> None:
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions):
            raise InputError(f"fractions must be in (0, 1]; got {self.fractions!r}")


TABLES = {
    "runs": "one row per (task, rank, fraction) run: final accuracy, forgetting, intruders",
    "evals": "every evaluation of every run",
    "epsilon_sweep": "model intruder count at k over the ε grid, final checkpoint",
    "k_fraction_sweep": "model intruder count at ε over k fractions, final checkpoint",
    "matrices": "per matrix of each final checkpoint",
}
FIGURES = {
    "fig_data_size_intruders": {"table": "runs", "x": "fraction", "y": "intruders", "series": ["rank"],
                                "facet": "task"},
    "fig_data_size_accuracy": {"table": "runs", "x": "fraction", "y": "accuracy", "series": ["rank"],
                               "facet": "task"},
}


def run(ctx: Context) -> Tables:
    """Train each (task, rank, fraction): train_examples scaled by the fraction."""
    grid = ctx.experiment.grid
    total = ctx.experiment.train_config().train_examples
    runs = []
    for task in grid.tasks:
        for rank in grid.ranks:
            for fraction in grid.fractions:
                examples = max(1, round(fraction * total))
                config = ctx.experiment.train_config(task=task, method="lora", rank=rank,
                                                     alpha=lora_alpha(grid.alpha, rank), lr=None,
                                                     lora_lr_product=grid.lr_product, train_examples=examples)
                runs.append((config, {"fraction": fraction, "train_examples": examples}))
    return ctx.train(runs)
