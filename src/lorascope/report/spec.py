"""Figure specs: plain data that figure builders return and the SVG/HTML renderers draw."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Series:
    """One line or point set of an x–y panel; `key` ties it to its legend entry and colour."""

    key: str
    name: str
    color: str
    x: tuple[float, ...]
    y: tuple[float | None, ...]  # None breaks the line
    tips: tuple[str, ...] = ()  # hover text per point (default: name, x, y)
    marked: tuple[int, ...] = ()  # indices of points drawn as intruders
    mode: str = "line"  # "line" (line with dots) or "points"
    hollow: bool = False  # open markers and no line: runs flagged diverged, drawn apart from the evidence


@dataclass(frozen=True)
class XYPanel:
    """An x–y chart."""

    title: str
    x_label: str
    y_label: str
    series: tuple[Series, ...]
    x_ticks: tuple[tuple[float, str], ...] | None = None  # explicit ticks; else computed
    y_log: bool = False
    y_range: tuple[float, float] | None = None
    integer_y: bool = False
    hline: tuple[float, str] | None = None  # a dashed reference line and its label
    note: str = ""  # a short line under the title (e.g. a correlation)
    group: str = ""  # panels with the same group are shown under one heading


@dataclass(frozen=True)
class Heatmap:
    """An n × n |cos| map: rows base singular vectors, columns tuned ones; outlined columns are intruders."""

    title: str
    values: tuple[tuple[float, ...], ...]
    outlined: tuple[int, ...]
    color: str  # the input's colour, shown as a dot by the title
    note: str = ""
    group: str = ""


@dataclass(frozen=True)
class BarSeries:
    """Bar heights of one input across a bar panel's categories."""

    key: str
    name: str
    color: str
    values: tuple[float, ...]
    tips: tuple[str, ...]


@dataclass(frozen=True)
class BarPanel:
    """Grouped bars: one bar per series in each category."""

    title: str
    x_label: str
    y_label: str
    categories: tuple[str, ...]
    series: tuple[BarSeries, ...]
    group: str = ""


@dataclass(frozen=True)
class TablePanel:
    """A small table of already formatted cells (e.g. a recipe's percent changes or correlations)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    group: str = ""
    note: str = ""


Panel = XYPanel | Heatmap | BarPanel | TablePanel


@dataclass(frozen=True)
class LegendItem:
    """A legend entry; clicking it toggles every mark with its key in the figure."""

    key: str
    name: str
    color: str
    kind: str = "series"  # "series" (toggles) or "mark" (explains a symbol)


@dataclass(frozen=True)
class Stat:
    """A headline number shown with the figure (e.g. a Spearman correlation)."""

    label: str
    value: str
    detail: str = ""


@dataclass(frozen=True)
class Figure:
    """One figure of the report: panels, legend, caption, and what it corresponds to in the paper."""

    id: str
    title: str
    caption: str
    panels: tuple[Panel, ...]
    legend: tuple[LegendItem, ...] = ()
    stats: tuple[Stat, ...] = ()
    paper: str = ""  # e.g. "Fig. 4"
