"""Validate a `lorascope repair` report (OUT/repair.json) and read every λ's measurements and the choice."""

from __future__ import annotations

from pathlib import Path

from lorascope.errors import InputError
from lorascope.json_fields import get, number, text
from lorascope.report.data import RepairData, RepairPoint


def is_repair(obj: object) -> bool:
    """Whether a loaded JSON value has the shape of repair.json."""
    return isinstance(obj, dict) and obj.get("repair") is True and "points" in obj


def _point(entry: object, at: str) -> RepairPoint:
    if not isinstance(entry, dict):
        raise InputError(f"{at}: expected a JSON object")
    inside = get(entry, "within_budget", at)
    if not isinstance(inside, bool):
        raise InputError(f"{at}: field 'within_budget' should be true or false, got {inside!r}")
    return RepairPoint(number(entry, "lambda", at), number(entry, "quality", at), number(entry, "forgetting", at),
                       number(entry, "quality_drop_pct", at), inside)


def parse_repair(obj: dict, path: Path) -> RepairData:
    """A validated RepairData; InputError naming the file and field on a wrong value."""
    place = str(path)
    points = get(obj, "points", place)
    if not isinstance(points, list):
        raise InputError(f"{place}: field 'points' should be a list")
    higher = get(obj, "higher_is_better", place)
    if not isinstance(higher, bool):
        raise InputError(f"{place}: field 'higher_is_better' should be true or false, got {higher!r}")
    return RepairData(
        path=path,
        adapter=str(obj.get("adapter", "")),
        quality_measure=text(obj, "quality_measure", place),
        higher_is_better=higher,
        rule=text(obj, "rule", place),
        message=text(obj, "message", place),
        quality_limit=number(obj, "quality_limit", place, optional=True),
        chosen=number(obj, "chosen_lambda", place, optional=True),
        unscaled=_point(get(obj, "unscaled", place), f"{place} unscaled"),
        points=tuple(sorted((_point(e, f"{place} points[{i}]") for i, e in enumerate(points)),
                            key=lambda p: p.lam)),
    )
