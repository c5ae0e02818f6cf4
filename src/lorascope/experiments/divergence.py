"""The `diverged` flag of every run, written where runs are produced (lorascope.evidence.divergence states the rule).

`mark_diverged` reads each run's final quality and forgetting (`runs`), its untrained quality (the step-0 row of
`evals`) and the majority-class rate of its test split, and writes `diverged` (bool, None when undecidable) and
`diverged_reason` into the `runs` rows and `diverged` into every other row of the same run.
"""

from __future__ import annotations

from typing import Any

from lorascope.evidence.divergence import RULE, DivergenceRule, diverged

Tables = dict[str, list[dict[str, Any]]]


def untrained_quality(evals: list[dict[str, Any]]) -> dict[str, float | None]:
    """run_id -> the quality of its step-0 evaluation (the untrained model)."""
    out: dict[str, float | None] = {}
    for row in evals:
        if row.get("step") == 0:
            out[row["run_id"]] = row.get(row.get("quality_metric") or "accuracy")
    return out


def mark_diverged(tables: Tables, rule: DivergenceRule = RULE) -> Tables:
    """`tables` with the divergence flag set on every row that names a run (changed in place and returned)."""
    start = untrained_quality(tables.get("evals", []))
    flags: dict[str, bool | None] = {}
    for row in tables.get("runs", []):
        metric = row.get("quality_metric") or "accuracy"
        untrained = start.get(row["run_id"])
        row["untrained_quality"] = untrained
        flag, reason = diverged(metric, row.get(metric), untrained, majority=row.get("majority_rate"),
                                n=row.get("test_examples"), forgetting=row.get("forgetting"), rule=rule)
        row["diverged"], row["diverged_reason"] = flag, reason
        flags[row["run_id"]] = flag
    for name, rows in tables.items():
        if name == "runs":
            continue
        for row in rows:
            if row.get("run_id") in flags:
                row["diverged"] = flags[row["run_id"]]
    return tables


def run_diverged(rows: list[dict[str, Any]], test_examples: int | None, majority_rate: float | None,
                 rule: DivergenceRule = RULE) -> tuple[bool | None, str]:
    """The divergence flag and reason of one run from its own result rows (step 0 and final) and its test split."""
    if not rows:
        return None, "no result rows"
    final = rows[-1]
    metric = final.get("quality_metric") or "accuracy"
    untrained = next((r.get(metric) for r in rows if r.get("step") == 0), None)
    return diverged(metric, final.get(metric), untrained, majority=majority_rate, n=test_examples,
                    forgetting=final.get("forgetting"), rule=rule)


def kept(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of runs not flagged diverged (undecidable runs are kept)."""
    return [row for row in rows if row.get("diverged") is not True]
