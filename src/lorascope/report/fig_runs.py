"""Figures of `lorascope run` folders, drawn from the figure specs each recipe declares in its manifest.

A spec names a table and how to draw it: "x"/"y" (an x–y chart; one line per distinct value of the "series"
columns, one panel per value of the "facet" columns, "error" as ± tooltips, "baseline" a column whose value is
drawn as a dashed reference line; rows of several seeds that the spec does not name are drawn one line per
seed, in their series' colour), "value" (heatmaps, one per facet), or neither (the table itself,
restricted to "columns" when given). A spec whose table is empty draws nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lorascope.report.colors import categorical
from lorascope.report.common import fmt, legend
from lorascope.report.data import RunData
from lorascope.report.spec import Figure, Heatmap, Panel, Series, TablePanel, XYPanel

MAX_TABLE_ROWS = 200
PAPER = re.compile(r"^(fig|table)(\d+)([a-z]*)_")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _label(row: dict, columns: Sequence[str]) -> str:
    """`method lora, rank 8`; columns without a value in this row (e.g. a full fine-tune's rank) are left out."""
    parts = [f"{c} {fmt(row[c]) if isinstance(row[c], (int, float)) else row[c]}" for c in columns
             if row.get(c) is not None]
    return ", ".join(parts) or "all"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, (int, float)) else None


def _groups(rows: Sequence[dict], columns: Sequence[str]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for row in rows:
        out.setdefault(tuple(str(row.get(c)) for c in columns), []).append(row)
    return out


def _split_diverged(groups: dict[tuple, list[dict]], apart: bool) -> list[tuple[tuple[tuple, bool], list[dict]]]:
    """((series key, diverged), rows) per series: the rows of diverged runs split off when `apart`."""
    out = []
    for key, group in groups.items():
        if not apart:
            out.append(((key, False), group))
            continue
        for flag in (False, True):
            part = [r for r in group if (r.get("diverged") is True) == flag]
            if part:
                out.append(((key, flag), part))
    return out


def _by_seed(spec: dict, rows: Sequence[dict]) -> list[str]:
    """["seed"] when the rows come from several seeds that the spec neither draws as series nor facets nor x
    (each seed then gets its own line in its series' colour, so a line never joins points of different runs)."""
    named = [spec["x"], *_as_list(spec.get("series")), *_as_list(spec.get("facet"))]
    return ["seed"] if "seed" not in named and len({str(r.get("seed")) for r in rows}) > 1 else []


def _xy_panels(run: RunData, name: str, spec: dict, rows: Sequence[dict]) -> list[Panel]:
    x, y = spec["x"], spec["y"]
    series_cols, facet_cols = _as_list(spec.get("series")), _as_list(spec.get("facet"))
    line_cols = series_cols + _by_seed(spec, rows)
    baseline, error = spec.get("baseline"), spec.get("error")
    keys = list(_groups(rows, series_cols))
    colors = {k: categorical(i) for i, k in enumerate(keys)}
    panels: list[Panel] = []
    apart = any(r.get("diverged") is True for r in rows)  # diverged runs: their own hollow series
    for facet_rows in _groups(rows, facet_cols).values():
        series = []
        for (key, flag), group in _split_diverged(_groups(facet_rows, line_cols), apart):
            points = sorted(((_number(r.get(x)), _number(r.get(y)), r) for r in group),
                            key=lambda p: (p[0] is None, p[0] or 0.0))
            points = [p for p in points if p[0] is not None]
            if not points:
                continue
            label = (_label(group[0], line_cols) if line_cols else y) + (" (diverged)" if flag else "")
            tips = tuple(f"{label}\n{x} = {fmt(px)}: {y} {fmt(py)}"
                         + (f" ± {fmt(_number(r.get(error)))}" if error and _number(r.get(error)) is not None else "")
                         for px, py, r in points)
            skey = f"{run.label}|{name}|{'/'.join(key)}" + ("|diverged" if flag else "")
            series.append(Series(skey, label, colors[key[:len(series_cols)]], tuple(p[0] for p in points),
                                 tuple(p[1] for p in points), tips=tips, hollow=flag))
        if not series:
            continue
        hline = None
        if isinstance(baseline, str) and baseline in (facet_rows[0] or {}):
            values = {_number(r.get(baseline)) for r in facet_rows} - {None}
            if len(values) == 1:
                hline = (values.pop(), baseline.replace("_", " "))
        title = _label(facet_rows[0], facet_cols) if facet_cols else f"{y} vs {x}"
        counts = all(v is None or float(v).is_integer() for s in series for v in s.y)
        panels.append(XYPanel(title, x.replace("_", " "), y.replace("_", " "), tuple(series), hline=hline,
                              integer_y=counts, group=run.label))
    return panels


def _heatmaps(run: RunData, spec: dict, rows: Sequence[dict]) -> list[Panel]:
    x, y, value = spec["x"], spec["y"], spec["value"]
    facet_cols = _as_list(spec.get("facet"))
    panels: list[Panel] = []
    for group in _groups(rows, facet_cols).values():
        n_rows = 1 + max(int(r[y]) for r in group)
        n_cols = 1 + max(int(r[x]) for r in group)
        grid = [[0.0] * n_cols for _ in range(n_rows)]
        for r in group:
            grid[int(r[y])][int(r[x])] = float(r[value])
        title = _label(group[0], facet_cols) if facet_cols else value
        panels.append(Heatmap(title, tuple(tuple(row) for row in grid), (), categorical(0), group=run.label))
    return panels


def _table(run: RunData, spec: dict, rows: Sequence[dict]) -> list[Panel]:
    columns = _as_list(spec.get("columns")) or list(dict.fromkeys(c for r in rows for c in r))
    shown = rows[:MAX_TABLE_ROWS]
    body = tuple(tuple(fmt(r.get(c)) if isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool)
                       else str(r.get(c, "")) for c in columns) for r in shown)
    note = f"first {MAX_TABLE_ROWS} of {len(rows)} rows" if len(rows) > MAX_TABLE_ROWS else ""
    return [TablePanel(spec["table"], tuple(columns), body, group=run.label, note=note)]


def _paper(name: str) -> str:
    m = PAPER.match(name)
    if not m:
        return ""
    return f"{'Fig.' if m.group(1) == 'fig' else 'Table'} {m.group(2)}{m.group(3)}"


def figure_id(run_label: str, name: str) -> str:
    """The report's id of figure `name` of the run folder labelled `run_label` (used for links)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", f"run-{run_label}-{name}")


def run_figures(runs: Sequence[RunData]) -> list[Figure]:
    """One figure per (run folder, figure spec) whose table has rows."""
    figures = []
    for run in runs:
        for name, spec in run.figures.items():
            if not isinstance(spec, dict) or not isinstance(spec.get("table"), str):
                continue
            rows = run.rows(spec["table"])
            if not rows:
                continue
            if "value" in spec and "x" in spec and "y" in spec:
                panels = _heatmaps(run, spec, rows)
            elif "x" in spec and "y" in spec:
                panels = _xy_panels(run, name, spec, rows)
            else:
                panels = _table(run, spec, rows)
            if not panels:
                continue
            about = run.description
            caption = (f"{run.recipe} ({run.profile or 'default'} profile), table '{spec['table']}'"
                       + (f": {spec['y']} against {spec['x']}" if "x" in spec and "y" in spec else "")
                       + (f". {about}" if about else "."))
            fid = figure_id(run.label, name)
            series = [s for p in panels if isinstance(p, XYPanel) for s in p.series]
            figures.append(Figure(fid, f"{run.label}: {name.replace('_', ' ')}", caption, tuple(panels),
                                  legend(series), paper=_paper(name)))
    return figures
