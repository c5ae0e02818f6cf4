"""The training monitor's record: how the top singular values and their max |cos| moved over steps (Fig. 5)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lorascope.report.colors import categorical, rank_color
from lorascope.report.common import fmt, legend
from lorascope.report.data import MonitorRow
from lorascope.report.spec import Figure, Series, XYPanel

DETAILED = 3


def tracks_of(rows: Sequence[MonitorRow]) -> dict[str, list[MonitorRow]]:
    """Rows per tracked matrix (prefixed by the file's stem when several files are given), one per step."""
    multi = len({r.path for r in rows}) > 1
    tracks: dict[str, dict[int, MonitorRow]] = {}
    for r in rows:
        key = f"{r.path.stem}: {r.matrix}" if multi else r.matrix
        tracks.setdefault(key, {})[r.step] = r  # a resumed run rewrites a step: keep the last
    return {k: [v[s] for s in sorted(v)] for k, v in tracks.items()}


def _detailed(tracks: dict[str, list[MonitorRow]], patterns: Sequence[str]) -> list[str]:
    if patterns:
        compiled = [re.compile(p) for p in patterns]
        hits = [k for k in tracks if any(c.search(k) for c in compiled)]
        if hits:
            return hits[:DETAILED]
    return sorted(tracks, key=lambda k: (-tracks[k][-1].intruders, -max(r.intruders for r in tracks[k])))[:DETAILED]


def _rank_panels(key: str, rs: list[MonitorRow]) -> tuple[XYPanel, XYPanel]:
    k = max(len(r.sigma) for r in rs)
    sig, cos = [], []
    for j in range(k):
        pts = [r for r in rs if len(r.sigma) > j]
        xs = tuple(float(r.step) for r in pts)
        marked = tuple(i for i, r in enumerate(pts) if j in r.intruder_ranks)
        tips = tuple(f"{key}\nstep {r.step}, rank {j + 1}\nσ = {fmt(r.sigma[j])}, max |cos| = {fmt(r.max_cos[j], 3)}"
                     + ("\nintruder" if j in r.intruder_ranks else "") for r in pts)
        color = rank_color(j, k)
        sig.append(Series(f"rank {j + 1}", f"rank {j + 1}", color, xs, tuple(r.sigma[j] for r in pts), tips, marked))
        cos.append(Series(f"rank {j + 1}", f"rank {j + 1}", color, xs, tuple(r.max_cos[j] for r in pts), tips, marked))
    return (XYPanel("Singular values σ by rank", "step", "σ", tuple(sig), group=key),
            XYPanel("max |cos| to the base by rank", "step", "max |cos|", tuple(cos), y_range=(0.0, 1.0), group=key))


def monitor_figure(rows: Sequence[MonitorRow], patterns: Sequence[str] = ()) -> Figure | None:
    """Intruder counts of every tracked matrix, then σ and max |cos| per rank for the most intruded; None
    without rows."""
    if not rows:
        return None
    tracks = tracks_of(rows)
    counts = tuple(
        Series(key, key, categorical(i), tuple(float(r.step) for r in rs), tuple(float(r.intruders) for r in rs),
               tips=tuple(f"{key}\nstep {r.step}: {r.intruders} intruders" for r in rs))
        for i, (key, rs) in enumerate(tracks.items()))
    panels: list[XYPanel] = [XYPanel("Intruders per tracked matrix", "step", "intruders", counts, integer_y=True,
                                     group="All tracked matrices")]
    for key in _detailed(tracks, patterns):
        panels.extend(_rank_panels(key, tracks[key]))
    caption = ("The training monitor's measurements. First, each tracked matrix's intruder count over steps; then, for "
               "the most intruded matrices, the singular value and the max |cos| to the base of the vector at each "
               "rank (rank 1 = largest σ). Magenta rings are intruders; a vector whose σ climbs while its max |cos| "
               "falls is a new direction growing into the top ranks. The vector at a given rank can change between "
               "steps.")
    return Figure("monitor", "Intruders during training", caption, tuple(panels),
                  legend(counts) + legend((s for p in panels[1:] for s in p.series), intruder_mark=len(panels) > 1),
                  paper="Fig. 5")
