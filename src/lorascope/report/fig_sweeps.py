"""Model-level intruder counts: against the threshold ε at fixed k (paper Fig. 4), and against k (Fig. 15)."""

from __future__ import annotations

from collections.abc import Sequence

from lorascope.report.common import fmt, legend, same, scan_colors
from lorascope.report.data import ScanData
from lorascope.report.spec import Figure, Series, XYPanel


def epsilon_figure(scans: Sequence[ScanData]) -> Figure | None:
    """Intruders summed over the model at each ε of the sweep, one line per scan; None without scans."""
    if not scans:
        return None
    colors = scan_colors(scans)
    series = tuple(
        Series(s.label, s.label, colors[s.label], s.result.epsilons, tuple(float(t) for t in totals),
               tips=tuple(f"{s.label}\nε = {fmt(e)}, k = {s.result.k}\n{t} intruders"
                          for e, t in zip(s.result.epsilons, totals, strict=True)))
        for s, totals in ((s, s.result.epsilon_totals()) for s in scans))
    k = same(s.result.k for s in scans)
    at_k = f"the top {k} singular vectors of every matrix" if k else "the top k singular vectors of every matrix"
    caption = (f"Intruder dimensions counted among {at_k} and summed over the model, as the threshold ε rises. "
               "A vector is an intruder when its |cos| with every base singular vector is below ε, so curves "
               "climb with ε; a curve that stays high at low ε means strongly new directions.")
    panel = XYPanel("Intruders vs ε", "ε (cosine threshold)", "intruders (model total)", series, integer_y=True)
    return Figure("intruders-vs-epsilon", "Intruder dimensions across thresholds", caption, (panel,),
                  legend(series), paper="Fig. 4")


def k_fraction_figure(scans: Sequence[ScanData]) -> Figure | None:
    """Intruders among the top fraction of singular vectors, for scans run with --k-fractions; else None."""
    colors = scan_colors(scans)
    swept = [s for s in scans if s.result.k_fractions is not None]
    if not swept:
        return None
    series = tuple(
        Series(s.label, s.label, colors[s.label], s.result.k_fractions, tuple(float(t) for t in totals),
               tips=tuple(f"{s.label}\ntop {fmt(100 * f, 3)}% of vectors, ε = {fmt(s.result.epsilon)}\n{t} intruders"
                          for f, t in zip(s.result.k_fractions, totals, strict=True)))
        for s, totals in ((s, s.result.k_fraction_totals()) for s in swept))
    eps = same(s.result.epsilon for s in swept)
    at = f"ε = {fmt(eps)}" if eps is not None else "each scan's ε (see tooltips)"
    caption = (f"Intruders at {at} when k grows to a fraction of all singular vectors of each matrix, summed "
               "over the model. The left end counts only the largest-σ directions; moving right adds ever "
               "weaker ones, down to the whole spectrum at 1.")
    panel = XYPanel("Intruders vs k fraction", "k as a fraction of all singular vectors", "intruders (model total)",
                    series, integer_y=True)
    return Figure("intruders-vs-k-fraction", "Intruder dimensions across k", caption, (panel,), legend(series),
                  paper="Fig. 15")
