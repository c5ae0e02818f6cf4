"""rank_sweep (PAPER.md §2.2–2.4; Fig. 4, 6b, 14, 15): full fine-tuning and LoRA over ranks, with α = 2r and α = 8.

Per run: accuracy and forgetting (runs, evals), intruders over the ε grid at k (epsilon_sweep), over k as a
fraction of all singular vectors at ε (k_fraction_sweep), and ΔW's effective rank per matrix (matrices).
LoRA's learning rate follows the paper's rule lr = product/α for each product in `lr_products`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lorascope.errors import InputError
from lorascope.experiments.baselines import full_baseline_rows, matrix_mean, row_value
from lorascope.experiments.context import Context, Tables
from lorascope.experiments.paper_maps import paper_maps


@dataclass(frozen=True)
class Grid:
    """The [grid] section of a rank_sweep file."""

    tasks: list[str] = field(default_factory=lambda: ["rt_polarity"])
    ranks: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 64])
    alphas: list[str | float] = field(default_factory=lambda: ["2r", 8])  # "2r" or a fixed α
    lr_products: list[float] = field(default_factory=lambda: [2.4e-3])  # the constant α·lr of the LoRA runs
    full: bool = True  # also run full fine-tuning
    full_lrs: list[float] = field(default_factory=lambda: [1e-5])
    seeds: list[int] = field(default_factory=list)  # each run at every seed (claims' intervals); empty: [train] seed

    def __post_init__(self) -> None:
        for alpha in self.alphas:
            if isinstance(alpha, str) and alpha != "2r":
                raise InputError(f"alphas entries must be '2r' or a number; got {alpha!r}")


TABLES = {
    "runs": "one row per run: final accuracy, forgetting, intruders (training probe and final scan)",
    "evals": "every evaluation of every run (results.jsonl rows)",
    "epsilon_sweep": "model intruder count at k over the ε grid, final checkpoint",
    "k_fraction_sweep": "model intruder count at ε over k as a fraction of all singular vectors",
    "matrices": "per matrix of the final checkpoint: intruders, ΔW effective/stable rank, norms",
    "effective_rank": "per LoRA run: mean effective rank of ΔW over its matrices, beside the full fine-tunes' mean "
                      "on the same task (full_effective_rank, the figure's dashed baseline; diverged full runs "
                      "left out)",
    "forgetting": "per LoRA run: final forgetting, beside the full fine-tunes' mean on the same task "
                  "(full_forgetting, the figure's dashed baseline; diverged full runs left out)",
    "paper_maps": "Fig. 1/3: |cos| of top-n base vs top-n tuned singular vectors of one matrix, full fine-tuning "
                  "beside its quality-matched LoRA run (experiments/paper_maps.py)",
}
FIGURES = {
    "fig1_similarity_full_vs_lora": {"table": "paper_maps", "x": "tuned_index", "y": "base_index", "value": "cos",
                                     "facet": ["panel"]},
    "fig4_intruders_vs_epsilon": {"table": "epsilon_sweep", "x": "epsilon", "y": "intruders",
                                  "series": ["method", "rank", "alpha_rule"], "facet": "task"},
    "fig15_intruders_vs_k_fraction": {"table": "k_fraction_sweep", "x": "k_fraction", "y": "intruders",
                                      "series": ["method", "rank", "alpha_rule"], "facet": "task"},
    "fig6b_forgetting": {"table": "forgetting", "x": "rank", "y": "forgetting", "series": ["alpha_rule"],
                         "facet": "task", "baseline": "full_forgetting"},
    "fig14_effective_rank": {"table": "effective_rank", "x": "rank", "y": "effective_rank",
                             "series": ["alpha_rule"], "facet": "task", "baseline": "full_effective_rank"},
}


def lora_alpha(rule: str | float, rank: int) -> float:
    """α of rank `rank` under `rule` ("2r" or a number)."""
    return 2.0 * rank if rule == "2r" else float(rule)


def effective_rank_rows(tables: Tables) -> list[dict]:
    """Per LoRA run: its mean ΔW effective rank (with its diverged flag: the report draws those apart), and the
    mean of the same task's full fine-tunes that did not diverge."""
    return full_baseline_rows(tables, "effective_rank", matrix_mean(tables, "effective_rank"))


def forgetting_rows(tables: Tables) -> list[dict]:
    """Per LoRA run: its final forgetting, and the mean of the same task's non-diverged full fine-tunes (Fig. 6b's
    full fine-tuning line)."""
    return full_baseline_rows(tables, "forgetting", row_value("forgetting"))


def run(ctx: Context) -> Tables:
    """Every (task, rank, α rule, lr product) LoRA run and every (task, lr) full run, trained and scanned."""
    grid = ctx.experiment.grid
    runs = []
    seeded = [{"seed": seed} for seed in grid.seeds] or [{}]
    for task in grid.tasks:
        for seed in seeded:
            if grid.full:
                for lr in grid.full_lrs:
                    runs.append((ctx.experiment.train_config(task=task, method="full", lr=lr, **seed),
                                 {"alpha_rule": None, "lr_product": None}))
            for rule in grid.alphas:
                for rank in grid.ranks:
                    for product in grid.lr_products:
                        config = ctx.experiment.train_config(task=task, method="lora", rank=rank,
                                                             alpha=lora_alpha(rule, rank), lr=None,
                                                             lora_lr_product=product, **seed)
                        runs.append((config, {"alpha_rule": str(rule), "lr_product": product}))
    tables = ctx.train(runs)
    tables["paper_maps"] = paper_maps(tables)
    tables["effective_rank"] = effective_rank_rows(tables)
    tables["forgetting"] = forgetting_rows(tables)
    tables.pop("similarity", None)  # every run's maps: only the chosen pair's are kept (paper_maps)
    return tables
