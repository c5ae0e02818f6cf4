"""Training runs (results.jsonl): intruders, accuracy and forgetting per evaluation point (Fig. 7), and how
intruders correlate with forgetting and with accuracy across every row (Spearman, Fig. 7/11)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lorascope.correlation import Correlation, spearman
from lorascope.report.colors import categorical
from lorascope.report.common import fmt, legend
from lorascope.report.data import TrainRow
from lorascope.report.spec import Figure, Series, Stat, XYPanel

_DESCRIBE: tuple[tuple[str, Callable[[TrainRow], str]], ...] = (
    ("task", lambda r: r.task),
    ("model", lambda r: r.model),
    ("method", lambda r: r.method + (f" r{r.rank}" if r.rank is not None else "")),
    ("alpha", lambda r: "" if r.alpha is None else f"α {fmt(r.alpha)}"),
    ("lr", lambda r: "" if r.lr is None else f"lr {r.lr:g}"),
    ("layers", lambda r: "" if r.train_layers in ("", "all") else r.train_layers),
    ("seed", lambda r: "" if r.seed is None else f"seed {r.seed}"),
)


def runs_of(rows: Sequence[TrainRow]) -> dict[str, list[TrainRow]]:
    """Rows grouped by run (run_id, and the file when two files share an id), each sorted by step."""
    runs: dict[str, list[TrainRow]] = {}
    files: dict[str, object] = {}
    for r in rows:
        key = r.run_id if files.setdefault(r.run_id, r.path) == r.path else f"{r.run_id} ({r.path})"
        runs.setdefault(key, []).append(r)
    return {k: sorted(v, key=lambda r: r.step) for k, v in runs.items()}


def run_names(runs: dict[str, list[TrainRow]]) -> dict[str, str]:
    """Short legend names built from what differs between runs (method and lr for a single run)."""
    firsts = {k: v[0] for k, v in runs.items()}
    varying = [f for name, f in _DESCRIBE if len({f(r) for r in firsts.values()}) > 1]
    if not varying:
        varying = [f for name, f in _DESCRIBE if name in ("method", "lr")]
    names = {k: " · ".join(x for x in (f(r) for f in varying) if x) or k for k, r in firsts.items()}
    if len(set(names.values())) < len(names):
        return {k: k for k in runs}
    return names


def _stat(label: str, c: Correlation) -> Stat:
    if c.rho is None:
        return Stat(label, "n/a", f"undefined over {c.n} rows (needs ≥ 3 rows and variation on both sides)")
    p = "" if c.p is None else f"p = {c.p:.2g}, "
    return Stat(label, f"ρ = {c.rho:.3f}", f"{p}n = {c.n} rows")


def _pairs(rows: Sequence[TrainRow], field: str) -> tuple[list[float], list[float]]:
    pairs = [(float(r.intruders), getattr(r, field)) for r in rows
             if r.intruders is not None and getattr(r, field) is not None]
    return [a for a, _ in pairs], [b for _, b in pairs]


def training_figure(rows: Sequence[TrainRow]) -> Figure | None:
    """Panels over training time per run plus intruder scatter plots; None without rows."""
    if not rows:
        return None
    runs = runs_of(rows)
    names = run_names(runs)
    colors = {k: categorical(i) for i, k in enumerate(runs)}
    use_epoch = all(r.epoch is not None for r in rows)
    x_label = "epoch" if use_epoch else "step"

    def over_time(field: str, label: str) -> XYPanel | None:
        series = []
        for key, rs in runs.items():
            pts = [r for r in rs if getattr(r, field) is not None]
            if not pts:
                continue
            xs = tuple(float(r.epoch if use_epoch else r.step) for r in pts)
            tips = tuple(f"{names[key]}\nstep {r.step}" + (f", epoch {fmt(r.epoch, 3)}" if r.epoch is not None else "")
                         + f"\n{label} = {fmt(getattr(r, field))}" for r in pts)
            series.append(Series(key, names[key], colors[key], xs, tuple(float(getattr(r, field)) for r in pts),
                                 tips=tips))
        if not series:
            return None
        return XYPanel(label[0].upper() + label[1:], x_label, label, tuple(series), integer_y=field == "intruders")

    def scatter(field: str, label: str, c: Correlation) -> XYPanel | None:
        series = []
        for key, rs in runs.items():
            pts = [r for r in rs if r.intruders is not None and getattr(r, field) is not None]
            if pts:
                tips = tuple(f"{names[key]}\nstep {r.step}: {r.intruders} intruders, {label} {fmt(getattr(r, field))}"
                             for r in pts)
                series.append(Series(key, names[key], colors[key], tuple(float(r.intruders) for r in pts),
                                     tuple(float(getattr(r, field)) for r in pts), tips=tips, mode="points"))
        if not series:
            return None
        note = "" if c.rho is None else f"Spearman ρ = {c.rho:.3f}" + ("" if c.p is None else f", p = {c.p:.2g}")
        return XYPanel(f"{label[0].upper() + label[1:]} vs intruders", "intruders", label, tuple(series), note=note)

    vs_forget = spearman(*_pairs(rows, "forgetting"))
    vs_acc = spearman(*_pairs(rows, "accuracy"))
    vs_loss = spearman(*_pairs(rows, "task_loss"))  # runs trained with the lm objective
    panels = [over_time("intruders", "intruders"), over_time("accuracy", "test accuracy"),
              over_time("task_loss", "held-out task loss"), over_time("forgetting", "forgetting"),
              scatter("forgetting", "forgetting", vs_forget), scatter("accuracy", "test accuracy", vs_acc),
              scatter("task_loss", "held-out task loss", vs_loss)]
    panels = tuple(p for p in panels if p is not None)
    if not panels:
        return None
    stats = []
    if vs_forget.n:
        stats.append(_stat("intruders vs forgetting", vs_forget))
    if vs_acc.n:
        stats.append(_stat("intruders vs accuracy", vs_acc))
    if vs_loss.n:
        stats.append(_stat("intruders vs task loss", vs_loss))
    caption = (f"Each training run's evaluation points over {x_label}s: intruders summed over its trained matrices, "
               "test accuracy (or, for runs trained with the lm objective, the held-out task loss), and forgetting "
               "(LM loss of the tuned model minus the base model's, on held-out text). "
               "The scatter plots and Spearman ρ pool every row of every run.")
    return Figure("training", "Training runs: intruders, accuracy, forgetting", caption, panels,
                  legend(s for p in panels for s in p.series), tuple(stats), paper="Fig. 7, 11")
