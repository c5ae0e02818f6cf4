"""The tidy result rows of a training run (`results.jsonl`): one row per evaluation point.

Schema (one JSON object per line, keys in this order):

    run_id        str    stable id of the run: task-model-method-(rN-)lr-sSEED-hash of the config
    method        str    "lora" | "full"
    rank          int    LoRA rank (null for full fine-tuning)
    alpha         float  LoRA alpha (null for full fine-tuning)
    lr            float  peak learning rate
    seed          int
    task          str    registered task name, or the stem of the data file
    model         str    registered model name or the model directory given
    train_layers  str    "all" | "top:N"
    step          int    optimiser steps done (0 = before training)
    epoch         float  step / steps per epoch
    quality_metric str   which measure of task quality the run has: "accuracy" (classify) or "task_loss" (lm)
    accuracy      float  accuracy on the held-out test examples (null for the lm objective)
    task_loss     float  mean next-token loss (nats/token) on the held-out test texts (null for classify)
    task_perplexity float  exp(task_loss) (null for classify)
    forgetting    float  lm_loss - the base model's lm_loss on the same text (null without an LM head)
    lm_loss       float  mean LM loss (nats/token) of the base LM head on the tuned backbone (null: no head)
    intruders     int    intruder dimensions (k, epsilon of the config) summed over the trained matrices
    train_loss    float  mean training loss since the previous row (null at step 0)
    seconds       float  wall-clock seconds of the run up to this row, over every resumed session
    sec_per_step  float  mean seconds per optimiser step since the previous row (null at step 0)
    eval_seconds  float  seconds this evaluation took
    checkpoint    str    adapter/checkpoint folder of this point, relative to the run folder (null at step 0)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from lorascope.atomic import atomic_write_text


@dataclass(frozen=True)
class ResultRow:
    """One evaluation point of one run (see the module docstring for the meaning of each field)."""

    run_id: str
    method: str
    rank: int | None
    alpha: float | None
    lr: float
    seed: int
    task: str
    model: str
    train_layers: str
    step: int
    epoch: float
    quality_metric: str
    accuracy: float | None
    task_loss: float | None
    task_perplexity: float | None
    forgetting: float | None
    lm_loss: float | None
    intruders: int
    train_loss: float | None
    seconds: float
    sec_per_step: float | None
    eval_seconds: float
    checkpoint: str | None


RESULT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ResultRow))


def quality_of(row: dict) -> float | None:
    """The task quality a result row (or a table row copied from one) records: row[row["quality_metric"]];
    rows written before quality_metric existed hold accuracy."""
    return row.get(row.get("quality_metric") or "accuracy")


class ResultsLog:
    """The rows of `results.jsonl`; every change rewrites the whole file atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rows: list[dict] = []
        if self.path.is_file():
            self.rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def keep_until(self, step: int) -> None:
        """Drop rows after `step` (written by a session that was killed before its state was saved)."""
        kept = [r for r in self.rows if r["step"] <= step]
        if len(kept) != len(self.rows):
            self.rows = kept
            self._write()

    def append(self, row: ResultRow) -> None:
        self.rows = [r for r in self.rows if r["step"] != row.step] + [asdict(row)]
        self._write()

    def _write(self) -> None:
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.rows))
