"""Top-n × top-n |cos| maps between base and fine-tuned singular vectors, intruder columns outlined (Fig. 3)."""

from __future__ import annotations

from collections.abc import Sequence

from lorascope.report.choose import Choice
from lorascope.report.colors import INTRUDER
from lorascope.report.common import scan_colors, short_name
from lorascope.report.data import ScanData
from lorascope.report.spec import Figure, Heatmap, LegendItem
from lorascope.results import MatrixResult


def matrix_in(scan: ScanData, name: str) -> MatrixResult | None:
    """The scan's matrix called `name`, if it has one."""
    return next((m for m in scan.result.matrices if m.name == name), None)


def heatmap_of(scan: ScanData, m: MatrixResult, color: str, map_size: int | None = None,
               grouped: bool = True) -> Heatmap | None:
    """The map of one matrix (cropped to the top `map_size`), outlining exactly its intruder columns; `grouped`:
    titled by the scan under a heading naming the matrix, else titled by the matrix."""
    similarity = m.analysis.similarity.tolist()  # float32 |cos|; a file written without the map has none
    if not similarity:
        return None
    n = len(similarity) if map_size is None else min(len(similarity), map_size)
    values = tuple(tuple(min(max(round(v, 6), 0.0), 1.0) for v in row[:n]) for row in similarity[:n])  # as saved
    outlined = tuple(j for j in m.intruder_columns if j < n)
    top = len(m.analysis.top)
    note = f"{m.intruders} intruder{'s' if m.intruders != 1 else ''} in the top {top}"
    if n > top:
        note += f" (columns past {top} not tested)"
    if not grouped:
        return Heatmap(short_name(m), values, outlined, color, note=note)
    return Heatmap(scan.label, values, outlined, color, note=note, group=f"{short_name(m)}  ·  {m.name}")


def similarity_figure(scans: Sequence[ScanData], choice: Choice, map_size: int | None = None) -> Figure | None:
    """One map per chosen matrix and scan that stored one; None when no scan stored a map."""
    colors = scan_colors(scans)
    panels = []
    for name in choice.names:
        for s in scans:
            m = matrix_in(s, name)
            h = None if m is None else heatmap_of(s, m, colors[s.label], map_size, grouped=len(scans) > 1)
            if h is not None:
                panels.append(h)
    if not panels:
        return None
    which = ("matrices matching --matrix" if choice.by_pattern
             else "the matrices with the most intruders in each scan")
    if choice.matched > len(choice.names):
        which += f" (the first {len(choice.names)} of {choice.matched})"
    caption = (f"|cos| between the top base singular vectors (rows) and the top fine-tuned ones (columns) of {which}. "
               "A dark diagonal means each fine-tuned direction is a base direction in the same place; an intruder "
               "is a blank column, outlined in magenta, and pushes the diagonal after it one step right.")
    legend = (LegendItem("intruder", "intruder column", INTRUDER, kind="mark"),)
    return Figure("similarity", "Base vs fine-tuned singular vectors", caption, tuple(panels), legend,
                  paper="Fig. 1, 3")
