"""The rule `repair` picks its λ by: the least forgetting among the λ whose quality stays within budget.

A pure function over measurements, so the rule is tested on tables with known answers. Quality is
accuracy (higher is better) or a task loss (lower is better); its change is measured in percent of the
unscaled adapter's quality (λ = 1): a drop for accuracy, a rise for a loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    """What one λ measured: task quality and forgetting (LM loss on the forget text minus the base's)."""

    lam: float
    quality: float
    forgetting: float


RULE = (
    "among the λ whose task quality is at most {budget} % worse than the unscaled adapter's (λ = 1; "
    "{direction}) and whose forgetting is lower than the unscaled adapter's, take the one with the least "
    "forgetting; ties go to the λ nearest 1 (the smaller change), then to the larger λ"
)


def rule_text(max_drop_pct: float, higher_is_better: bool) -> str:
    """The rule in words, with the budget and the direction of 'worse' filled in (recorded in repair.json)."""
    direction = "a drop in accuracy" if higher_is_better else "a rise in task loss"
    return RULE.format(budget=f"{max_drop_pct:g}", direction=direction)


def quality_drop_pct(quality: float, reference: float, higher_is_better: bool) -> float:
    """How much worse `quality` is than `reference`, in percent of |reference| (negative: better)."""
    if reference == 0 or not (math.isfinite(quality) and math.isfinite(reference)):
        return math.inf if quality != reference else 0.0
    worse = reference - quality if higher_is_better else quality - reference
    return 100.0 * worse / abs(reference)


def within_budget(point: Point, reference: Point, max_drop_pct: float, higher_is_better: bool) -> bool:
    """Whether `point` may be chosen: finite measurements, quality drop ≤ budget, less forgetting than λ = 1."""
    if not (math.isfinite(point.quality) and math.isfinite(point.forgetting)):
        return False
    drop = quality_drop_pct(point.quality, reference.quality, higher_is_better)
    return drop <= max_drop_pct and point.forgetting < reference.forgetting


def choose_lambda(points: Sequence[Point], reference: Point, max_drop_pct: float,
                  higher_is_better: bool) -> Point | None:
    """The point the rule picks (see RULE), or None when no point is within budget."""
    allowed = [p for p in points if within_budget(p, reference, max_drop_pct, higher_is_better)]
    if not allowed:
        return None
    return min(allowed, key=lambda p: (p.forgetting, abs(1.0 - p.lam), -p.lam))
