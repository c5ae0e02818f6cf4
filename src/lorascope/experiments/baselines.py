"""Per-LoRA-run rows that carry the full fine-tunes' value beside the run's own (a figure's dashed baseline).

The paper draws full fine-tuning as a reference line on its by-rank figures (effective rank, Fig. 14;
forgetting, Fig. 6b). The report computes nothing, so the recipe writes the line's value into each row:
`full_<column>` is the mean over the same task's full fine-tunes that did not diverge (every seed).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

Tables = dict[str, list[dict[str, Any]]]
RUN_COLUMNS = ("run_id", "task", "rank", "alpha_rule", "lr", "seed")


def full_baseline_rows(tables: Tables, column: str, value: Callable[[dict[str, Any]], float | None]) -> list[dict]:
    """One row per LoRA run of tables["runs"]: its naming columns, `column` = value(run row), `full_<column>` =
    the mean of value() over the same task's non-diverged full fine-tunes (None without one), and `diverged`
    (the report draws diverged runs apart)."""
    runs = tables.get("runs", [])
    full = {}
    for task in {r.get("task") for r in runs}:
        values = [v for v in (value(r) for r in runs if r.get("method") == "full" and r.get("task") == task
                              and r.get("diverged") is not True) if v is not None]
        full[task] = statistics.fmean(values) if values else None
    return [{**{c: run.get(c) for c in RUN_COLUMNS}, column: value(run), f"full_{column}": full[run.get("task")],
             "diverged": run.get("diverged")}
            for run in runs if run.get("method") == "lora"]


def row_value(column: str) -> Callable[[dict[str, Any]], float | None]:
    """value() reading a number column of the run row itself (None when missing)."""
    def get(run: dict[str, Any]) -> float | None:
        v = run.get(column)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    return get


def matrix_mean(tables: Tables, column: str) -> Callable[[dict[str, Any]], float | None]:
    """value() averaging `column` over the run's rows of tables["matrices"] (None when it has none)."""
    by_run: dict[Any, list[float]] = {}
    for m in tables.get("matrices", []):
        if m.get(column) is not None:
            by_run.setdefault(m.get("run_id"), []).append(float(m[column]))

    def get(run: dict[str, Any]) -> float | None:
        values = by_run.get(run.get("run_id"))
        return statistics.fmean(values) if values else None
    return get
