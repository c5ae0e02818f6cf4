"""Effective rank of each matrix's update ΔW, one line per scan over the model's matrices (Fig. 14)."""

from __future__ import annotations

from collections.abc import Sequence

from lorascope.report.common import fmt, legend, scan_colors, short_name
from lorascope.report.data import ScanData
from lorascope.report.spec import Figure, Series, XYPanel
from lorascope.results import MatrixResult


def model_order(scans: Sequence[ScanData]) -> list[MatrixResult]:
    """One MatrixResult per distinct name, ordered by layer (unlayered last), then module order, then name."""
    first: dict[str, MatrixResult] = {}
    modules: list[str] = []
    for s in scans:
        for m in s.result.matrices:
            first.setdefault(m.name, m)
            if m.module_type not in modules:
                modules.append(m.module_type)
    return sorted(first.values(), key=lambda m: (m.layer is None, m.layer or 0, modules.index(m.module_type), m.name))


def _ticks(order: list[MatrixResult]) -> tuple[tuple[float, str], ...]:
    ticks, last = [], object()
    for i, m in enumerate(order):
        if m.layer is not None and m.layer != last:
            ticks.append((float(i), f"L{m.layer}"))
        last = m.layer
    step = max(1, -(-len(ticks) // 12))  # at most about 12 labels
    return tuple(ticks[::step])


def erank_figure(scans: Sequence[ScanData]) -> Figure | None:
    """None unless some scan stored effective ranks."""
    if not any(m.effective_rank is not None for s in scans for m in s.result.matrices):
        return None
    colors = scan_colors(scans)
    order = model_order(scans)
    position = {m.name: i for i, m in enumerate(order)}
    values = [m.effective_rank for s in scans for m in s.result.matrices if m.effective_rank]
    log = bool(values) and min(values) > 0 and max(values) / min(values) > 20
    series = []
    for s in scans:
        ms = sorted((m for m in s.result.matrices if m.effective_rank is not None), key=lambda m: position[m.name])
        if not ms:
            continue
        ys = tuple(None if log and m.effective_rank <= 0 else m.effective_rank for m in ms)
        tips = tuple(f"{s.label}\n{short_name(m)}\neffective rank of ΔW = {fmt(m.effective_rank, 3)}" for m in ms)
        series.append(Series(s.label, s.label, colors[s.label], tuple(float(position[m.name]) for m in ms), ys,
                             tips=tips))
    caption = ("Effective rank (exp of the entropy of the normalised singular values) of each matrix's update "
               "ΔW = W_tuned − W0, matrices in model order. A LoRA update cannot exceed its rank r; full "
               "fine-tuning usually spreads over many more directions" + (" (log scale)." if log else "."))
    panel = XYPanel("Effective rank of ΔW per matrix", "matrix (model order, ticks at block starts)",
                    "effective rank of ΔW", tuple(series), x_ticks=_ticks(order), y_log=log)
    return Figure("effective-rank", "How many directions each update uses", caption, (panel,), legend(series),
                  paper="Fig. 14")
