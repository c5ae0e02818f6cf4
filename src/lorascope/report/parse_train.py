"""Validate the rows of a training run's results.jsonl (schema: lorascope.training.rows)."""

from __future__ import annotations

from pathlib import Path

from lorascope.json_fields import integer, number, text, where
from lorascope.report.data import TrainRow

TRAIN_KEYS = ("run_id", "step", "accuracy", "intruders")


def is_train_row(obj: dict) -> bool:
    """Whether a JSONL row looks like a results.jsonl row."""
    return all(key in obj for key in TRAIN_KEYS)


def parse_train_rows(rows: list[tuple[int, dict]], path: Path) -> list[TrainRow]:
    """Typed rows; InputError naming file and line on a missing or wrong field."""
    out = []
    for line, r in rows:
        place = where(path, line)
        out.append(TrainRow(
            path=path, run_id=text(r, "run_id", place), method=str(r.get("method") or ""),
            rank=integer(r, "rank", place, optional=True), alpha=number(r, "alpha", place, optional=True),
            lr=number(r, "lr", place, optional=True), seed=integer(r, "seed", place, optional=True),
            task=str(r.get("task") or ""), model=str(r.get("model") or ""),
            train_layers=str(r.get("train_layers") or ""), step=integer(r, "step", place, minimum=0),
            epoch=number(r, "epoch", place, optional=True), accuracy=number(r, "accuracy", place, optional=True),
            forgetting=number(r, "forgetting", place, optional=True),
            intruders=integer(r, "intruders", place, optional=True, minimum=0),
            task_loss=number(r, "task_loss", place, optional=True)))
    return out
