"""Where the intruders are: counts by layer depth and by module type, one bar per scan."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lorascope.report.common import legend, scan_colors
from lorascope.report.data import ScanData
from lorascope.report.spec import BarPanel, BarSeries, Figure
from lorascope.results import MatrixResult


def _bars(scans: Sequence[ScanData], key: Callable[[MatrixResult], str], categories: list[str],
          colors: dict[str, str]) -> tuple[BarSeries, ...]:
    out = []
    for s in scans:
        intr = dict.fromkeys(categories, 0)
        count = dict.fromkeys(categories, 0)
        for m in s.result.matrices:
            intr[key(m)] += m.intruders
            count[key(m)] += 1
        tips = tuple(f"{s.label} · {c}\n{intr[c]} intruders in {count[c]} matrices" for c in categories)
        out.append(BarSeries(s.label, s.label, colors[s.label], tuple(float(intr[c]) for c in categories), tips))
    return tuple(out)


def _layer(m: MatrixResult) -> str:
    return "other" if m.layer is None else str(m.layer)


def rollup_figure(scans: Sequence[ScanData]) -> Figure | None:
    """Bars by layer (when names carry block indices) and by module type; None without matrices."""
    if not any(s.result.matrices for s in scans):
        return None
    colors = scan_colors(scans)
    panels = []
    layers = {m.layer for s in scans for m in s.result.matrices}
    if layers - {None}:
        cats = [str(x) for x in sorted(layers - {None})] + (["other"] if None in layers else [])
        panels.append(BarPanel("By layer depth", "block (layer index)", "intruders", tuple(cats),
                               _bars(scans, _layer, cats, colors)))
    modules: list[str] = []
    for s in scans:
        for m in s.result.matrices:
            if m.module_type not in modules:
                modules.append(m.module_type)
    panels.append(BarPanel("By module type", "module", "intruders", tuple(modules),
                           _bars(scans, lambda m: m.module_type, modules, colors)))
    caption = ("Intruders (at each scan's k and ε) summed per block depth and per kind of matrix. Tall bars show "
               "where fine-tuning wrote new directions; hover a bar for how many matrices it sums.")
    return Figure("intruders-by-location", "Where the intruders are", caption, tuple(panels),
                  legend(s for p in panels for s in p.series))
