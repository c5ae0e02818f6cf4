"""continual (PAPER.md §2.7; Fig. 9, 17, 18): tasks in sequence, each fine-tune merged into the backbone.

One chain per method (full fine-tuning; LoRA at each rank, a fresh adapter per task). After each stage:
every task's accuracy with its head re-fitted on the frozen backbone (a fixed budget, the [grid] head_*
keys), forgetting against the original base, and the similarity maps of the chosen top-block matrices
against the original base. Stage 0 is the pretrained model (the baseline of Fig. 9a).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lorascope.errors import InputError
from lorascope.experiments.context import Context, Planned, Tables
from lorascope.experiments.continual import Chain, chain_settings, continual_chain
from lorascope.experiments.headfit import HeadBudget
from lorascope.recipes.rank_sweep import lora_alpha


@dataclass(frozen=True)
class Grid:
    """The [grid] section of a continual file."""

    tasks: list[str] = field(default_factory=lambda: ["rt_polarity", "bbc_topic", "hoc_party", "debate_party"])
    full: bool = True
    full_lr: float = 2e-5
    ranks: list[int] = field(default_factory=lambda: [1, 8, 64])
    alpha: str | float = "2r"
    lora_lr_product: float = 8e-2
    head_examples: int = 400
    head_steps: int = 300
    head_batch_size: int = 32
    head_lr: float = 1e-3
    similarity_modules: list[str] = field(default_factory=lambda: ["self_attn.q_proj", "mlp.down_proj"])
    keep_stages: bool = False  # keep every merged stage checkpoint (a full model each); else only the last

    def __post_init__(self) -> None:
        if len(self.tasks) < 2 or len(set(self.tasks)) != len(self.tasks):
            raise InputError(f"tasks must name at least 2 distinct tasks (the paper's sequence has 6); "
                             f"got {self.tasks!r}")
        if min(self.head_examples, self.head_steps, self.head_batch_size) < 1 or self.head_lr <= 0:
            raise InputError("head_examples, head_steps, head_batch_size and head_lr must be positive")


TABLES = {
    "accuracy": "per chain, stage, task: accuracy with a re-fitted head (trained: whether the task came yet)",
    "stages": "per chain and stage: LM loss and forgetting against the original base, intruders",
    "similarity": "per chain, stage, chosen matrix: |cos| of top base vs top stage singular vectors (tidy map)",
    "epsilon_sweep": "per chain and stage: intruders over the ε grid against the original base",
    "matrices": "per chain, stage, trained matrix: intruders and update measures against the original base",
}
FIGURES = {
    "fig9a_accuracy_per_stage": {"table": "accuracy", "x": "stage", "y": "accuracy", "series": ["chain"],
                                 "facet": "task"},  # stage 0 is the pretrained baseline
    "fig9bc_similarity_maps": {"table": "similarity", "x": "tuned_index", "y": "base_index", "value": "cos",
                               "facet": ["chain", "stage", "matrix"]},
    "continual_forgetting": {"table": "stages", "x": "stage", "y": "forgetting", "series": ["chain"]},
}


def run(ctx: Context) -> Tables:
    """One chain per method, each a job; a killed chain resumes at its next stage."""
    grid = ctx.experiment.grid
    budget = HeadBudget(examples=grid.head_examples, steps=grid.head_steps, batch_size=grid.head_batch_size,
                        lr=grid.head_lr)
    configs = {}
    if grid.full:
        configs["full"] = ctx.experiment.train_config(task=grid.tasks[0], method="full", lr=grid.full_lr)
    for rank in grid.ranks:
        configs[f"lora-r{rank}"] = ctx.experiment.train_config(
            task=grid.tasks[0], method="lora", rank=rank, alpha=lora_alpha(grid.alpha, rank), lr=None,
            lora_lr_product=grid.lora_lr_product)
    jobs = []
    for name, config in configs.items():
        chain = Chain(name, config, tuple(grid.tasks), budget, tuple(grid.similarity_modules), grid.keep_stages)
        planned = Planned("continual", {"chain": chain_settings(chain), "analysis": vars(ctx.experiment.analysis)},
                          continual_chain, (chain, "", ctx.experiment.analysis, ctx.cache_dir))
        folder = str(ctx.out / "continual" / f"{name}-{planned.key.split('-')[-1][:8]}")
        jobs.append(Planned(planned.kind, planned.settings, continual_chain,
                            (chain, folder, ctx.experiment.analysis, ctx.cache_dir)))
    tables: Tables = {}
    for result in ctx.run(jobs).values():
        for name, rows in result.items():
            tables.setdefault(name, []).extend(rows)
    return tables
