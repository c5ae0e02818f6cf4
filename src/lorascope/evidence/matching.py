"""Pairs of a LoRA run and a full fine-tuning run whose task quality agrees (the paper compares at equal accuracy).

Rule (`MatchRule`): for each LoRA run not flagged diverged, the full fine-tuning run of the same task and model
(also not diverged) whose final quality is closest, one of the same seed first, is its partner, if the two
agree within the tolerance:
|accuracy_LoRA − accuracy_full| ≤ `accuracy_points` (classify), or |loss_LoRA − loss_full| ≤ `relative_loss`·
loss_full (lm objective, task loss). Runs without such a partner are left out of the comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MatchRule:
    """How close two runs' task quality must be to count as matched."""

    accuracy_points: float = field(default=0.02, metadata={"help": "largest accuracy difference (absolute)"})
    relative_loss: float = field(default=0.02, metadata={"help": "largest task-loss difference, as a fraction "
                                                                  "of the full fine-tune's"})

    def describe(self) -> str:
        """The rule in one sentence."""
        return (f"matched = the closest-quality full fine-tune of the same task (same seed first), within "
                f"{self.accuracy_points * 100:g} accuracy points (lm objective: task loss within "
                f"{self.relative_loss * 100:g} %); diverged runs never match")


RULE = MatchRule()


@dataclass(frozen=True)
class Pair:
    """A LoRA run and its matched full fine-tune (rows of a `runs` table), and their quality gap."""

    lora: dict[str, Any]
    full: dict[str, Any]
    metric: str
    gap: float  # |quality_LoRA − quality_full|

    def text(self) -> str:
        """'accuracy 0.712 vs full 0.705' with the run names."""
        return f"{self.metric} {self.lora[self.metric]:.3g} vs full {self.full[self.metric]:.3g}"


def _quality(row: dict[str, Any]) -> tuple[str, float | None]:
    metric = row.get("quality_metric") or "accuracy"
    value = row.get(metric)
    return metric, float(value) if isinstance(value, (int, float)) else None


def within(metric: str, lora: float, full: float, rule: MatchRule = RULE) -> bool:
    """Whether two quality values agree under `rule`."""
    if metric == "task_loss":
        return abs(lora - full) <= rule.relative_loss * abs(full)
    return abs(lora - full) <= rule.accuracy_points + 1e-12


def match_pairs(runs: Sequence[dict[str, Any]], rule: MatchRule = RULE) -> list[Pair]:
    """Every LoRA run of `runs` that has a quality-matched full fine-tune, with its closest one."""
    good = [r for r in runs if r.get("diverged") is not True]
    full = [r for r in good if r.get("method") == "full"]
    pairs = []
    for lora in (r for r in good if r.get("method") == "lora"):
        metric, value = _quality(lora)
        if value is None:
            continue
        options = []
        for f in full:
            f_metric, f_value = _quality(f)
            if (f_metric == metric and f_value is not None and f.get("task") == lora.get("task")
                    and f.get("model") == lora.get("model") and within(metric, value, f_value, rule)):
                options.append((abs(value - f_value), f))
        if options:
            gap, partner = min(options, key=lambda o: (o[1].get("seed") != lora.get("seed"), o[0]))
            pairs.append(Pair(lora, partner, metric, gap))
    return pairs
