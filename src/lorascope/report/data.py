"""What the report reads, once validated: scans, training rows, monitor rows and scaled-model measurements."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class TopVector:
    """One examined tuned singular vector of a scanned matrix."""

    index: int
    sigma: float
    max_cos: float
    intruder: bool


@dataclass(frozen=True)
class MatrixData:
    """One scanned matrix, as the scan JSON stores it."""

    name: str
    intruders: int
    top: tuple[TopVector, ...]
    layer: int | None
    module_type: str
    effective_rank: float | None  # of ΔW; None when the scan did not store it
    similarity: tuple[tuple[float, ...], ...] | None  # n × n |cos|, rows base, columns tuned

    @property
    def min_max_cos(self) -> float:
        """The smallest max |cos| among the top k (1.0 when nothing was examined)."""
        return min((t.max_cos for t in self.top), default=1.0)

    @property
    def intruder_columns(self) -> tuple[int, ...]:
        """Ranks (0-based) of the examined vectors that are intruders."""
        return tuple(i for i, t in enumerate(self.top) if t.intruder)


@dataclass(frozen=True)
class ScanData:
    """One scan: a fine-tuned model against its base."""

    label: str
    path: Path
    tuned: str
    tuned_kind: str
    k: int
    epsilon: float
    epsilons: tuple[float, ...]
    epsilon_totals: tuple[int, ...]
    k_fractions: tuple[float, ...] | None
    k_fraction_totals: tuple[int, ...] | None
    matrices: tuple[MatrixData, ...]
    accuracy: float | None = None  # only when the file recorded one (the demo's JSON)

    @property
    def total_intruders(self) -> int:
        return sum(m.intruders for m in self.matrices)


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
