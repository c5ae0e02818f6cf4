"""Per-matrix view: max |cos| of each top fine-tuned singular vector against its rank, intruders marked (Fig. 2b)."""

from __future__ import annotations

from collections.abc import Sequence

from lorascope.report.choose import Choice
from lorascope.report.common import fmt, legend, same, scan_colors, short_name
from lorascope.report.data import ScanData
from lorascope.report.fig_similarity import matrix_in
from lorascope.report.spec import Figure, Series, XYPanel


def max_cos_figure(scans: Sequence[ScanData], choice: Choice) -> Figure | None:
    """One panel per chosen matrix, one line per scan holding it; None without chosen matrices."""
    colors = scan_colors(scans)
    panels = []
    for name in choice.names:
        series = []
        label = name
        for s in scans:
            m = matrix_in(s, name)
            if m is None or not m.analysis.top:
                continue
            label = short_name(m)
            top = m.analysis.top
            tips = tuple(f"{s.label}\nrank {j + 1}: σ = {fmt(t.sigma)}\nmax |cos| = {fmt(t.max_cos, 3)}"
                         + ("\nintruder" if t.intruder else "") for j, t in enumerate(top))
            series.append(Series(s.label, s.label, colors[s.label], tuple(float(j + 1) for j in range(len(top))),
                                 tuple(t.max_cos for t in top), tips=tips, marked=m.intruder_columns))
        if series:
            eps = same(s.result.epsilon for s in scans if matrix_in(s, name) is not None)
            panels.append(XYPanel(label, "rank of the fine-tuned singular vector", "max |cos| to any base vector",
                                  tuple(series), y_range=(0.0, 1.0),
                                  hline=None if eps is None else (eps, f"ε = {fmt(eps)}"),
                                  note=name))
    if not panels:
        return None
    caption = ("For each of the top fine-tuned singular vectors (by rank, left = largest σ), its best |cos| with any "
               "base singular vector. Points near 1 are base directions kept; magenta-ringed points under the "
               "dashed ε line are intruders, directions the base matrix did not have.")
    all_series = [s for p in panels for s in p.series]
    return Figure("max-cos", "How new is each top direction", caption, tuple(panels),
                  legend(all_series, intruder_mark=any(s.marked for s in all_series)), paper="Fig. 2b")
