"""When a fine-tuning run has not learned its task or has broken its language model (`diverged`).

Rule (`DivergenceRule`, stated in `describe`):
- classify: final accuracy < reference + z·SE, where reference = max(accuracy of the untrained model at step 0,
  majority-class rate of the test split) and SE = sqrt(p(1 − p)/n) the binomial standard error of the
  reference rate p over the n test examples: the run is within noise of (or below) guessing;
- lm objective: final task loss not below the untrained model's task loss at step 0;
- any objective: forgetting (LM-loss rise over the base model, nats/token) above `max_forgetting`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DivergenceRule:
    """Thresholds of the divergence test."""

    z: float = field(default=2.0, metadata={"help": "binomial standard errors above the reference accuracy a "
                                                    "classifier must reach"})
    max_forgetting: float = field(default=1.0, metadata={"help": "largest LM-loss rise (nats/token) still "
                                                                 "counted as a working fine-tune"})

    def describe(self) -> str:
        """The rule in one sentence, for notes and docs."""
        return (f"diverged = accuracy below max(untrained, majority class) + {self.z:g} binomial SE on the test "
                f"set (lm objective: task loss not below the untrained model's), or forgetting > "
                f"{self.max_forgetting:g} nat")


RULE = DivergenceRule()


def majority_rate(labels: Sequence[object]) -> float | None:
    """Share of the most frequent label (None for no labels)."""
    if not labels:
        return None
    counts: dict[object, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return max(counts.values()) / len(labels)


def diverged(metric: str, final: float | None, untrained: float | None, *, majority: float | None = None,
             n: int | None = None, forgetting: float | None = None,
             rule: DivergenceRule = RULE) -> tuple[bool | None, str]:
    """(flag, reason): True with the failed test, False when every test passed, None when quality is missing."""
    if forgetting is not None and math.isfinite(forgetting) and forgetting > rule.max_forgetting:
        return True, f"forgetting {forgetting:.3g} > {rule.max_forgetting:g} nat"
    if final is None or not math.isfinite(final):
        return None, "no final task quality"
    if metric == "task_loss":
        if untrained is None:
            return None, "no untrained task loss (step 0) to compare with"
        if final >= untrained:
            return True, f"task loss {final:.4g} not below the untrained {untrained:.4g}"
        return False, ""
    if metric != "accuracy":
        raise ValueError(f"unknown quality metric {metric!r}")
    refs = [v for v in (untrained, majority) if v is not None]
    if not refs:
        return None, "no untrained accuracy or majority-class rate to compare with"
    reference = max(refs)
    se = math.sqrt(reference * (1.0 - reference) / n) if n else 0.0
    limit = reference + rule.z * se
    if final < limit:
        return True, (f"accuracy {final:.3f} < {limit:.3f} (reference {reference:.3f} + {rule.z:g}·SE, "
                      f"n = {n})")
    return False, ""
