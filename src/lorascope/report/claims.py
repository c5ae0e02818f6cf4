"""The paper's claims (PAPER.md §5) checked against `lorascope run` results: paper value, measured value, verdict.

Each check reads the tidy tables of the run folders given and returns None when no folder covers the claim,
so a report shows only what was measured. A verdict is True/False when the data decide it and None when
they cannot (e.g. a correlation over constant values); the note says why and which runs were used.
Verdict rules are stated in each claim's `rule`, so a reader can see exactly what "holds" means here.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from lorascope.report.common import fmt
from lorascope.report.data import RunData
from lorascope.report.fig_runs import figure_id

EPSILON = 0.5  # the paper's default threshold for counts (k = 10)


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, as measured here."""

    id: str  # PAPER.md §5 item, e.g. "5.1"
    claim: str
    paper: str  # the paper's number or finding
    measured: str
    holds: bool | None
    rule: str  # what "holds" means here
    note: str = ""
    figure: str | None = None  # id of the report figure that shows it

    def to_json(self) -> dict:
        return asdict(self)


def _runs(runs: Sequence[RunData], *recipes: str) -> list[RunData]:
    return [r for r in runs if r.recipe in recipes]


def _at_eps(run: RunData, table: str = "epsilon_sweep") -> list[dict]:
    return [row for row in run.rows(table) if _close(row.get("epsilon"), EPSILON)]


def _close(a: object, b: float) -> bool:
    return isinstance(a, (int, float)) and abs(float(a) - b) < 1e-9


def _mean(values: Sequence[float]) -> float | None:
    vals = [float(v) for v in values if isinstance(v, (int, float))]
    return statistics.fmean(vals) if vals else None


def _lora_name(row: dict) -> str:
    return f"LoRA r={row.get('rank')} α={fmt(row.get('alpha'))} lr={fmt(row.get('lr'))}"


def full_has_none(runs: Sequence[RunData]) -> Claim | None:
    """5.1: full fine-tuning creates no intruders."""
    rows = [(run, row) for run in _runs(runs, "rank_sweep", "lr_sweep", "seeds", "only_b")
            for row in _at_eps(run) if row.get("method") == "full"]
    if not rows:
        return None
    counts = [int(row["intruders"]) for _, row in rows]
    return Claim("5.1", "Full fine-tuning creates no intruder dimensions", "0 (every epoch, every task)",
                 f"max {max(counts)} over {len(counts)} full fine-tune(s)", max(counts) == 0,
                 f"every full fine-tune has 0 intruders at k = 10, ε = {EPSILON}",
                 figure=figure_id(rows[0][0].label, "fig4_intruders_vs_epsilon"))


def lora_has_some(runs: Sequence[RunData]) -> Claim | None:
    """5.2: low-rank LoRA creates intruders."""
    rows = [(run, row) for run in _runs(runs, "rank_sweep") for row in _at_eps(run)
            if row.get("method") == "lora" and isinstance(row.get("rank"), int) and row["rank"] <= 16]
    if not rows:
        return None
    parts = [f"{_lora_name(row)}: {row['intruders']}" for _, row in rows]
    counts = [int(row["intruders"]) for _, row in rows]
    return Claim("5.2", "LoRA at rank ≤ 16 creates intruder dimensions", "> 0 on all six tasks (r = 1…16, α = 2r)",
                 "; ".join(parts), all(c > 0 for c in counts),
                 f"every LoRA run with r ≤ 16 has > 0 intruders at k = 10, ε = {EPSILON}",
                 note="" if all(c > 0 for c in counts) else
                 "runs with 0 changed the weights too little at this learning rate and step count",
                 figure=figure_id(rows[0][0].label, "fig4_intruders_vs_epsilon"))


def high_rank_fewer(runs: Sequence[RunData]) -> Claim | None:
    """5.3: with α = 2r, rank 64 has no or very few intruders, fewer than low ranks."""
    rows = [(run, row) for run in _runs(runs, "rank_sweep") for row in _at_eps(run)
            if row.get("method") == "lora" and row.get("alpha_rule") == "2r"]
    high = [row for _, row in rows if isinstance(row.get("rank"), int) and row["rank"] >= 64]
    low = [row for _, row in rows if isinstance(row.get("rank"), int) and row["rank"] <= 8]
    if not high or not low:
        return None
    hi, lo = _mean([r["intruders"] for r in high]), _mean([r["intruders"] for r in low])
    return Claim("5.3", "With α = 2r, high rank (64) looks like full fine-tuning", "r = 64: none or very few",
                 f"r ≥ 64: {fmt(hi)} on average; r ≤ 8: {fmt(lo)}", hi < lo,
                 "mean count at r ≥ 64 below the mean at r ≤ 8", figure=figure_id(rows[0][0].label,
                                                                             "fig4_intruders_vs_epsilon"))


def _correlation(runs: Sequence[RunData], target: str) -> tuple[RunData, dict] | None:
    for run in _runs(runs, "lr_sweep"):
        rows = [r for r in run.rows("correlations") if r.get("y") == target]
        if rows:
            overall = [r for r in rows if r.get("scope") == "all tasks"]
            return run, (overall or rows)[0]
    return None


def correlates_with_forgetting(runs: Sequence[RunData]) -> Claim | None:
    """5.5: intruders correlate with forgetting across an lr sweep."""
    found = _correlation(runs, "forgetting")
    if found is None:
        return None
    run, row = found
    rho, p = row.get("rho"), row.get("p")
    holds = None if rho is None else bool(rho >= 0.5 and p is not None and p < 0.05)
    return Claim("5.5", "Intruder count correlates with forgetting (Spearman, lr sweep)", "ρ = 0.971",
                 f"ρ = {fmt(rho, 3)}, p = {fmt(p, 2)}, n = {row.get('n')}", holds, "ρ ≥ 0.5 with p < 0.05",
                 note=str(row.get("note") or ""), figure=figure_id(run.label, "fig7_intruders_per_epoch"))


def not_with_accuracy(runs: Sequence[RunData]) -> Claim | None:
    """5.5: intruders do not correlate significantly with accuracy."""
    found = _correlation(runs, "accuracy")
    if found is None:
        return None
    run, row = found
    rho, p = row.get("rho"), row.get("p")
    holds = None if p is None else bool(p >= 0.05)
    return Claim("5.5b", "Intruder count does not correlate significantly with accuracy", "ρ = −0.34, p = 0.22",
                 f"ρ = {fmt(rho, 3)}, p = {fmt(p, 2)}, n = {row.get('n')}", holds, "p ≥ 0.05",
                 note=str(row.get("note") or ""), figure=figure_id(run.label, "fig7_accuracy_per_epoch"))


def highest_lr_forgets_more(runs: Sequence[RunData]) -> Claim | None:
    """5.5: in the lr sweep, the highest-lr LoRA run forgets more than full fine-tuning."""
    for run in _runs(runs, "lr_sweep"):
        rows = [r for r in run.rows("runs") if r.get("forgetting") is not None and r.get("lr") is not None]
        lora = [r for r in rows if r.get("method") == "lora"]
        full = [r for r in rows if r.get("method") == "full"]
        if lora and full:
            top = max(lora, key=lambda r: r["lr"])
            most = max(r["forgetting"] for r in full)
            return Claim("5.5c", "The highest-lr LoRA forgets more than full fine-tuning (lr sweep)",
                         "higher pseudo-loss than full FT", f"{_lora_name(top)}: {fmt(top['forgetting'], 3)}; full "
                         f"fine-tuning at most {fmt(most, 3)}", top["forgetting"] > most,
                         "final forgetting of the highest-lr LoRA run above every full run's",
                         figure=figure_id(run.label, "fig7_forgetting_per_epoch"))
    return None


def full_forgets_more(runs: Sequence[RunData]) -> Claim | None:
    """5.6: full fine-tuning forgets more than α = 2r LoRA."""
    for run in _runs(runs, "rank_sweep"):
        rows = run.rows("runs")
        full = [r for r in rows if r.get("method") == "full" and r.get("forgetting") is not None]
        lora = [r for r in rows if r.get("method") == "lora" and r.get("alpha_rule") == "2r"
                and r.get("forgetting") is not None]
        if full and lora:
            f, lo = _mean([r["forgetting"] for r in full]), _mean([r["forgetting"] for r in lora])
            fa, la = _mean([r["accuracy"] for r in full]), _mean([r["accuracy"] for r in lora])
            return Claim("5.6", "Full fine-tuning forgets more than α = 2r LoRA", "higher pseudo-loss on all six tasks",
                         f"forgetting (accuracy): full {fmt(f, 3)} ({fmt(fa, 3)}); "
                         + "; ".join(f"{_lora_name(r)} {fmt(r['forgetting'], 3)} ({fmt(r.get('accuracy'), 3)})"
                                     for r in lora) + f"; LoRA mean {fmt(lo, 3)} ({fmt(la, 3)})",
                         f > lo, "mean forgetting (LM loss rise) of full runs above that of α = 2r LoRA runs",
                         note="accuracies are not matched by construction; compare them", figure=figure_id(
                             run.label, "fig6b_forgetting"))
    return None


def _intervention_point(runs: Sequence[RunData], target: str, lam: float) -> tuple[RunData, list[dict]] | None:
    for run in _runs(runs, "intervention"):
        rows = [r for r in run.rows("intervention") if r.get("target") == target and _close(r.get("lambda"), lam)]
        if rows:
            return run, rows
    return None


def _pct(rows: list[dict], column: str) -> float | None:
    return _mean([r.get(column) for r in rows])


def scaling_reduces_forgetting(runs: Sequence[RunData]) -> Claim | None:
    """5.7: scaling the top intruder down (λ = 0.7) reduces forgetting at little accuracy cost."""
    found = _intervention_point(runs, "top-intruder", 0.7) or _intervention_point(runs, "top-intruder", 0.5)
    if found is None:
        return None
    run, rows = found
    lam = rows[0]["lambda"]
    acc, fgt = _pct(rows, "accuracy_change_pct"), _pct(rows, "forgetting_change_pct")
    holds = None if acc is None or fgt is None else bool(fgt < 0 and acc >= -1.0)
    return Claim("5.7", f"Scaling the top intruder by λ = {fmt(lam)} cuts forgetting at ~no accuracy cost",
                 "λ = 0.7 (QQP): accuracy 0.0 %, forgetting −33 %",
                 f"accuracy {fmt(acc, 3)} %, forgetting {fmt(fgt, 3)} % (mean over {len(rows)} run(s))", holds,
                 "forgetting change < 0 and accuracy change ≥ −1 %", figure=figure_id(run.label,
                                                                                    "fig8_forgetting_vs_lambda"))


def neighbour_raises_forgetting(runs: Sequence[RunData]) -> Claim | None:
    """5.7: scaling the neighbour (a non-intruder) down raises forgetting."""
    found = _intervention_point(runs, "neighbour", 0.7) or _intervention_point(runs, "neighbour", 0.5)
    if found is None:
        return None
    run, rows = found
    fgt = _pct(rows, "forgetting_change_pct")
    return Claim("5.7b", "Scaling the neighbouring (non-intruder) vector down raises forgetting", "forgetting rises",
                 f"forgetting {fmt(fgt, 3)} % at λ = {fmt(rows[0]['lambda'])}", None if fgt is None else fgt > 0,
                 "forgetting change > 0", figure=figure_id(run.label, "fig8_forgetting_vs_lambda"))


def only_b_fewer(runs: Sequence[RunData]) -> Claim | None:
    """5.9: training only B gives fewer intruders than standard LoRA."""
    for run in _runs(runs, "only_b"):
        rows = [r for r in _at_eps(run) if r.get("method") == "lora"]
        frozen = [r["intruders"] for r in rows if r.get("freeze_a")]
        normal = [r["intruders"] for r in rows if not r.get("freeze_a")]
        if frozen and normal:
            f, n = sum(frozen), sum(normal)
            return Claim("5.9", "Training only B (A fixed, semi-orthogonal) gives fewer intruders", "far fewer",
                         f"only-B {f} vs standard {n} (summed over {len(frozen)} run pair(s))", f < n,
                         "only-B total below standard LoRA's", figure=figure_id(run.label,
                                                                               "fig10_only_b_intruders_vs_epsilon"))
    return None


def seeds_agree(runs: Sequence[RunData]) -> Claim | None:
    """5.10: counts are about the same across seeds."""
    for run in _runs(runs, "seeds"):
        rows = [r for r in run.rows("spread") if _close(r.get("epsilon"), EPSILON) and r.get("mean") is not None]
        if rows:
            parts = [f"r={r.get('rank')}: {fmt(r['mean'], 3)} ± {fmt(r.get('std'), 2)} (n={r.get('n')})" for r in rows]
            holds = all(r.get("std") is not None and r["std"] <= max(1.0, 0.5 * r["mean"]) for r in rows)
            return Claim("5.10", "Intruder counts are about the same across seeds", "about the same (5 seeds)",
                         "; ".join(parts), holds, "standard deviation ≤ max(1, half the mean) at every rank",
                         figure=figure_id(run.label, "fig22_seed_spread"))
    return None


def continual_lora_degrades(runs: Sequence[RunData]) -> Claim | None:
    """5.8: in continual learning, LoRA loses the first task's accuracy faster than full fine-tuning."""
    for run in _runs(runs, "continual"):
        rows = run.rows("accuracy")
        if not rows:
            continue
        first = min(rows, key=lambda r: (r.get("stage", 0), str(r.get("task"))))["task"]
        drops: dict[str, float] = {}
        for chain in dict.fromkeys(r.get("chain") for r in rows):
            mine = sorted((r for r in rows if r.get("chain") == chain and r.get("task") == first
                           and r.get("accuracy") is not None), key=lambda r: r.get("stage", 0))
            trained = [r for r in mine if r.get("trained")]
            if len(trained) >= 2:
                drops[str(chain)] = trained[0]["accuracy"] - trained[-1]["accuracy"]
        full = [v for k, v in drops.items() if k.startswith("full")]
        lora = [v for k, v in drops.items() if not k.startswith("full")]
        if full and lora:
            holds = _mean(lora) > _mean(full)
            parts = "; ".join(f"{k}: {fmt(v, 3)}" for k, v in drops.items())
            return Claim("5.8", f"In continual learning LoRA loses the first task ({first}) faster than full FT",
                         "LoRA degrades faster, worst at low rank", f"accuracy drop of {first}: {parts}", holds,
                         "mean drop of LoRA chains above full fine-tuning's",
                         figure=figure_id(run.label, "fig9a_accuracy_per_stage"))
    return None


def effective_rank_gap(runs: Sequence[RunData]) -> Claim | None:
    """5.12: the effective rank of full fine-tuning's ΔW far exceeds LoRA's."""
    for run in _runs(runs, "rank_sweep"):
        rows = run.rows("matrices")
        full = _mean([r.get("effective_rank") for r in rows if r.get("method") == "full"])
        by_rank: dict[int, float] = {}
        for rank in sorted({r.get("rank") for r in rows if r.get("method") == "lora" and r.get("rank")}):
            value = _mean([r.get("effective_rank") for r in rows
                           if r.get("method") == "lora" and r.get("rank") == rank])
            if value is not None:
                by_rank[rank] = value
        if full is not None and by_rank:
            parts = ", ".join(f"r={k}: {fmt(v, 3)}" for k, v in by_rank.items())
            return Claim("5.12", "Full fine-tuning's update has a far higher effective rank than LoRA's",
                         "full > 400; LoRA r = 8/16 far lower", f"mean per matrix: full {fmt(full, 4)}; LoRA {parts}",
                         full > max(by_rank.values()), "full's mean effective rank above every LoRA rank's",
                         figure=figure_id(run.label, "fig14_effective_rank"))
    return None


def update_norm_ratio(runs: Sequence[RunData]) -> Claim | None:
    """5.14: LoRA's ΔW is larger in norm than full fine-tuning's."""
    for run in _runs(runs, "rank_sweep"):
        rows = run.rows("matrices")
        full = _mean([r.get("fro_norm") for r in rows if r.get("method") == "full"])
        lora = _mean([r.get("fro_norm") for r in rows if r.get("method") == "lora"])
        if full and lora:
            return Claim("5.14", "LoRA's update is larger in norm than full fine-tuning's", "about 16× (0.002839 vs "
                         "0.000172)", f"{fmt(lora / full, 3)}× (mean Frobenius norm per matrix)", lora > full,
                         "LoRA's mean ‖ΔW‖_F above full fine-tuning's",
                         note="learning rates differ between the methods, as in the paper")
    return None


def toy_spike(runs: Sequence[RunData]) -> Claim | None:
    """5.13, from the toy table `reproduce` writes: W + λ v vᵀ (λ > σ_max(W)) has exactly one intruder, at the top."""
    for run in _runs(runs, "toy"):
        rows = run.rows("toy_spike")
        at_eps = [r for r in rows if _close(r.get("epsilon"), EPSILON)]
        if not at_eps:
            continue
        ranks = {float(r["epsilon"]): list(r.get("intruder_ranks") or []) for r in rows}
        measured = "; ".join(f"ε = {fmt(e)}: {len(r)} at rank(s) {r}" for e, r in ranks.items())
        spread = [fmt(e) for e, r in ranks.items() if r != [1]]
        note = (f"at ε = {', '.join(spread)} more vectors fall below the threshold: the spike also rotates W's "
                "near-degenerate top vectors (a Gaussian spectrum is packed at its edge)") if spread else ""
        row = at_eps[0]
        return Claim("5.13", "Toy: W + λ v vᵀ (λ > σ_max) has exactly one intruder, at the top", "one, at rank 1",
                     measured, ranks[float(row["epsilon"])] == [1],
                     f"exactly one intruder, at rank 1, at ε = {EPSILON} ({row.get('n')} × {row.get('n')} Gaussian W, "
                     f"λ = {fmt(row.get('lambda_over_sigma_max'))}σ_max)", note=note)
    return None


CHECKS: tuple[Callable[[Sequence[RunData]], Claim | None], ...] = (
    full_has_none, lora_has_some, high_rank_fewer, correlates_with_forgetting, not_with_accuracy,
    highest_lr_forgets_more, full_forgets_more, scaling_reduces_forgetting, neighbour_raises_forgetting,
    continual_lora_degrades, only_b_fewer, seeds_agree, effective_rank_gap, toy_spike, update_norm_ratio)


def evaluate_claims(runs: Sequence[RunData]) -> list[Claim]:
    """Every claim the run folders cover, in PAPER.md §5 order."""
    return [c for c in (check(runs) for check in CHECKS) if c is not None]
