"""What the report reads, once validated: scans, training rows, monitor rows and scaled-model measurements."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lorascope.results import ScanResult


@dataclass(frozen=True)
class ScanData:
    """One scan as the report shows it: the ScanResult read back from its file (lorascope.results, the one model
    of a scan), the label it is shown under, and the accuracy the demo's JSON recorded beside it."""

    label: str
    path: Path
    result: ScanResult
    accuracy: float | None = None


@dataclass(frozen=True)
class TrainRow:
    """One evaluation point of a training run (a row of results.jsonl)."""

    path: Path
    run_id: str
    method: str
    rank: int | None
    alpha: float | None
    lr: float | None
    seed: int | None
    task: str
    model: str
    train_layers: str
    step: int
    epoch: float | None
    accuracy: float | None
    forgetting: float | None
    intruders: int | None
    task_loss: float | None = None  # held-out task loss of a run trained with the lm objective (accuracy is None)


@dataclass(frozen=True)
class MonitorRow:
    """One measurement of one tracked matrix during training (a row of the monitor's JSONL)."""

    path: Path
    step: int
    matrix: str
    sigma: tuple[float, ...]
    max_cos: tuple[float, ...]
    intruders: int

    @property
    def intruder_ranks(self) -> tuple[int, ...]:
        """Ranks of the intruders: the `intruders` smallest max |cos| (intruder iff max |cos| < ε)."""
        order = sorted(range(len(self.max_cos)), key=lambda j: (self.max_cos[j], j))
        return tuple(sorted(order[: self.intruders]))


@dataclass(frozen=True)
class ScalePoint:
    """Measurements of one scaled model: the λ output of a `scale` run."""

    lam: float
    accuracy: float | None
    forgetting: float | None


@dataclass(frozen=True)
class ScaleData:
    """One scale.json: which target was scaled in which model, and what each λ output measured."""

    path: Path
    tuned: str
    target: str
    points: tuple[ScalePoint, ...]


@dataclass(frozen=True)
class RepairPoint:
    """One λ that `repair` measured: task quality, forgetting, quality drop in percent, and whether it may be chosen."""

    lam: float
    quality: float
    forgetting: float
    quality_drop_pct: float
    within_budget: bool


@dataclass(frozen=True)
class RepairData:
    """One repair.json: every λ's measurements, the unscaled adapter's, the budget line and the λ chosen."""

    path: Path
    adapter: str
    quality_measure: str  # "accuracy" | "task_loss"
    higher_is_better: bool
    rule: str
    message: str
    quality_limit: float | None
    chosen: float | None
    unscaled: RepairPoint
    points: tuple[RepairPoint, ...]


@dataclass(frozen=True)
class RunData:
    """One `lorascope run` output folder: the recipe, its figure specs and its tidy tables (rows as dicts)."""

    path: Path
    label: str
    recipe: str
    profile: str | None
    description: str
    figures: dict  # name -> spec: {"table", "x", "y", "series", "facet", "baseline", "value", "columns", ...}
    tables: dict  # name -> tuple of row dicts
    settings: dict = field(default_factory=dict)

    def rows(self, table: str) -> tuple[dict, ...]:
        """The rows of `table` (empty when the run did not write it)."""
        return self.tables.get(table, ())


@dataclass(frozen=True)
class Inputs:
    """Everything loaded from the report's inputs."""

    scans: tuple[ScanData, ...] = ()
    train_rows: tuple[TrainRow, ...] = ()
    monitor_rows: tuple[MonitorRow, ...] = ()
    scales: tuple[ScaleData, ...] = ()
    files: tuple[tuple[Path, str], ...] = field(default=())  # (file, kind) in load order
    runs: tuple[RunData, ...] = ()
    repairs: tuple[RepairData, ...] = ()
