"""Every figure the inputs allow, in reading order; a figure whose data is absent is left out."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lorascope.errors import InputError
from lorascope.report.choose import choose_matrices
from lorascope.report.data import Inputs
from lorascope.report.fig_erank import erank_figure
from lorascope.report.fig_matrix import max_cos_figure
from lorascope.report.fig_monitor import monitor_figure
from lorascope.report.fig_repair import repair_figure
from lorascope.report.fig_rollup import rollup_figure
from lorascope.report.fig_runs import run_figures
from lorascope.report.fig_scale import scale_figure
from lorascope.report.fig_similarity import similarity_figure
from lorascope.report.fig_sweeps import epsilon_figure, k_fraction_figure
from lorascope.report.fig_training import training_figure
from lorascope.report.spec import Figure


@dataclass(frozen=True)
class FigureOptions:
    """Which matrices to show in the per-matrix figures, and how much of each similarity map."""

    matrix: tuple[str, ...] = ()  # regexes on tensor names; empty: the most intruded per scan
    per_scan: int = 3
    map_size: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.per_scan, bool) or not isinstance(self.per_scan, int) or self.per_scan < 1:
            raise InputError(f"--per-scan must be an integer ≥ 1; got {self.per_scan!r}")
        if self.map_size is not None and (isinstance(self.map_size, bool) or not isinstance(self.map_size, int)
                                          or self.map_size < 1):
            raise InputError(f"--map-size must be an integer ≥ 1; got {self.map_size!r}")


def _monitored(inputs: Inputs, patterns: tuple[str, ...]) -> bool:
    compiled = [re.compile(p) for p in patterns]
    return any(c.search(r.matrix) for r in inputs.monitor_rows for c in compiled)


def all_figures(inputs: Inputs, options: FigureOptions = FigureOptions()) -> list[Figure]:
    """The report's figures for `inputs`."""
    choice = choose_matrices(inputs.scans, options.matrix, options.per_scan)
    if options.matrix and not choice.names and not _monitored(inputs, options.matrix):
        raise InputError(f"--matrix {' '.join(options.matrix)}: matches no scanned or monitored matrix")
    figures = [
        epsilon_figure(inputs.scans),
        k_fraction_figure(inputs.scans),
        similarity_figure(inputs.scans, choice, options.map_size),
        max_cos_figure(inputs.scans, choice),
        rollup_figure(inputs.scans),
        erank_figure(inputs.scans),
        training_figure(inputs.train_rows),
        monitor_figure(inputs.monitor_rows, options.matrix),
        scale_figure(inputs.scales),
        repair_figure(inputs.repairs),
    ]
    return [f for f in figures if f is not None] + run_figures(inputs.runs)
