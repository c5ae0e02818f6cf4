"""Scaling intruder singular values by λ: test accuracy and forgetting of each scaled model (Fig. 8, 12)."""

from __future__ import annotations

from collections.abc import Sequence

from lorascope.report.colors import categorical
from lorascope.report.common import fmt, legend
from lorascope.report.data import ScaleData
from lorascope.report.spec import Figure, Series, XYPanel


def scale_figure(scales: Sequence[ScaleData]) -> Figure | None:
    """Accuracy and forgetting against λ, one line per (tuned model, target); None without measurements."""
    measured = [s for s in scales if any(p.accuracy is not None or p.forgetting is not None for p in s.points)]
    if not measured:
        return None
    several = len({s.tuned for s in measured}) > 1
    keys = []
    for s in measured:
        key = f"{s.tuned} · {s.target}" if several else s.target
        keys.append(key if key not in keys else f"{key} ({s.path.parent.name})")
    colors = {k: categorical(i) for i, k in enumerate(dict.fromkeys(keys))}
    panels = []
    for field, label in (("accuracy", "test accuracy"), ("forgetting", "forgetting")):
        series = []
        for key, s in zip(keys, measured, strict=True):
            pts = [p for p in s.points if getattr(p, field) is not None]
            if pts:
                tips = tuple(f"{key}\nλ = {fmt(p.lam)}: {label} {fmt(getattr(p, field))}" for p in pts)
                series.append(Series(key, key, colors[key], tuple(p.lam for p in pts),
                                     tuple(getattr(p, field) for p in pts), tips=tips))
        if series:
            panels.append(XYPanel(f"{label[0].upper() + label[1:]} vs λ", "λ (scale of the targeted σ)", label,
                                  tuple(series)))
    caption = ("Models whose targeted singular values were multiplied by λ (λ = 1 is the fine-tuned model, λ = 0 "
               "removes the direction), one line per scaled target. The paper finds that scaling the top intruder "
               "down cuts forgetting at little cost in accuracy; the neighbour and whole-update targets are controls.")
    return Figure("scale", "Scaling intruder dimensions", caption, tuple(panels),
                  legend(s for p in panels for s in p.series), paper="Fig. 8, 12")
