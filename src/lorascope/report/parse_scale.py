"""Validate a `lorascope scale` report (OUT/scale.json) and read what each λ output measured.

scale.json lists `outputs: [{"lambda", "path", "matrices"}]`. Measurements of a scaled model are read
from optional numeric fields of its output entry: `accuracy` (test accuracy) and `forgetting` (LM loss
minus the base model's). A file without any of them is valid; the report just has nothing to draw from it.
"""

from __future__ import annotations

from pathlib import Path

from lorascope.errors import InputError
from lorascope.json_fields import get, number, text
from lorascope.report.data import ScaleData, ScalePoint


def is_scale(obj: object) -> bool:
    """Whether a loaded JSON value has the shape of scale.json."""
    return isinstance(obj, dict) and "outputs" in obj and isinstance(obj.get("options"), dict)


def parse_scale(obj: dict, path: Path) -> ScaleData:
    """A validated ScaleData; InputError naming the file on a wrong field."""
    place = str(path)
    target = text(get(obj, "options", place), "target", f"{place} options")
    outputs = get(obj, "outputs", place)
    if not isinstance(outputs, list):
        raise InputError(f"{place}: field 'outputs' should be a list")
    points = []
    for i, entry in enumerate(outputs):
        at = f"{place} outputs[{i}]"
        points.append(ScalePoint(number(entry, "lambda", at), number(entry, "accuracy", at, optional=True),
                                 number(entry, "forgetting", at, optional=True)))
    return ScaleData(path, str(obj.get("tuned", "")), target, tuple(sorted(points, key=lambda p: p.lam)))
