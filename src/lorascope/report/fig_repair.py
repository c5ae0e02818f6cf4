"""`repair`'s trade-off: task quality and forgetting of every λ tried, the budget line, and the λ chosen."""

from __future__ import annotations

from collections.abc import Sequence

from lorascope.report.colors import categorical
from lorascope.report.common import fmt, legend
from lorascope.report.data import RepairData
from lorascope.report.spec import Figure, Series, XYPanel

_LABELS = {"accuracy": "accuracy", "task_loss": "task loss (nats/token)"}


def _panels(r: RepairData, color: str, name: str) -> tuple[XYPanel, ...]:
    pts = sorted((*r.points, r.unscaled), key=lambda p: p.lam)
    quality = _LABELS.get(r.quality_measure, r.quality_measure)
    chosen = tuple(i for i, p in enumerate(pts) if r.chosen is not None and p.lam == r.chosen)
    tips = tuple(f"λ = {fmt(p.lam)}{' (unscaled)' if p.lam == 1 else ''}{' · chosen' if i in chosen else ''}\n"
                 f"{quality} {fmt(p.quality)} ({fmt(p.quality_drop_pct, 3)} % worse)\nforgetting {fmt(p.forgetting)}"
                 f"{'' if p.within_budget or p.lam == 1 else ' · not within budget'}"
                 for i, p in enumerate(pts))
    lams = tuple(p.lam for p in pts)
    limit = None if r.quality_limit is None else (r.quality_limit, "budget limit")
    return (
        XYPanel(f"{name}: {quality} vs λ", "λ (scale of the targeted σ; 1 = unscaled)", quality,
                (Series(name, name, color, lams, tuple(p.quality for p in pts), tips, chosen),), hline=limit,
                group=name),
        XYPanel(f"{name}: forgetting vs λ", "λ (scale of the targeted σ; 1 = unscaled)",
                "forgetting (nats/token)", (Series(name, name, color, lams, tuple(p.forgetting for p in pts), tips,
                                                   chosen),), group=name),
        XYPanel(f"{name}: trade-off", "forgetting (nats/token)", quality,
                (Series(name, name, color, tuple(p.forgetting for p in pts), tuple(p.quality for p in pts), tips,
                        chosen, mode="points"),), hline=limit, note=r.message[:90], group=name),
    )


def repair_figure(repairs: Sequence[RepairData]) -> Figure | None:
    """Quality and forgetting against λ and against each other, one group per repair.json; None without any."""
    if not repairs:
        return None
    panels: list[XYPanel] = []
    for i, r in enumerate(repairs):
        name = r.adapter or r.path.parent.name
        panels.extend(_panels(r, categorical(i), name if len(repairs) == 1 else f"{name} ({r.path.parent.name})"))
    caption = ("Each λ multiplies the targeted intruder singular values of the adapter (λ = 1: the adapter as "
               "given). Ringed: the λ `repair` chose. Dashed: the worst quality the budget accepts. "
               f"Rule: {repairs[0].rule}.")
    return Figure("repair", "Repair: quality against forgetting", caption, tuple(panels),
                  legend(s for p in panels for s in p.series), paper="Fig. 8 (λ chosen on your data)")
