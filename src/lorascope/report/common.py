"""Small helpers shared by the figure builders: number formatting, matrix names, legends, colours."""

from __future__ import annotations

from collections.abc import Iterable

from lorascope.report.colors import INTRUDER, categorical
from lorascope.report.data import ScanData
from lorascope.report.spec import LegendItem, Series
from lorascope.results import MatrixResult


def fmt(value: float | None, digits: int = 4) -> str:
    """A number for a tooltip or label: integers as such, others with `digits` significant digits."""
    if value is None:
        return "–"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def short_name(m: MatrixResult) -> str:
    """`L3 · self_attn.q_proj` for a matrix in block 3; the module path alone outside blocks."""
    module = m.module_type.removesuffix(".weight")
    return module if m.layer is None else f"L{m.layer} · {module}"


def scan_colors(scans: Iterable[ScanData]) -> dict[str, str]:
    """Each scan's colour, fixed by its position among the inputs so it is the same in every figure."""
    return {s.label: categorical(i) for i, s in enumerate(scans)}


def legend(series: Iterable[Series], intruder_mark: bool = False) -> tuple[LegendItem, ...]:
    """One toggle per distinct series key (first appearance order), plus the intruder symbol if used."""
    items: dict[str, LegendItem] = {}
    for s in series:
        items.setdefault(s.key, LegendItem(s.key, s.name, s.color))
    marks = (LegendItem("intruder", "intruder", INTRUDER, kind="mark"),) if intruder_mark else ()
    return tuple(items.values()) + marks


def same(values: Iterable) -> object | None:
    """The single value all entries share, or None when they differ (or there are none)."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None
