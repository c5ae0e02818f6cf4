"""Validate the rows the training monitor writes (lorascope.monitor): per step and matrix, top-k σ and max |cos|."""

from __future__ import annotations

from pathlib import Path

from lorascope.errors import InputError
from lorascope.json_fields import integer, numbers, text, where
from lorascope.report.data import MonitorRow

MONITOR_KEYS = ("step", "matrix", "sigma", "max_cos", "intruders")


def is_monitor_row(obj: dict) -> bool:
    """Whether a JSONL row looks like a monitor row."""
    return all(key in obj for key in MONITOR_KEYS)


def parse_monitor_rows(rows: list[tuple[int, dict]], path: Path) -> list[MonitorRow]:
    """Typed rows; InputError naming file and line on a missing or inconsistent field."""
    out = []
    for line, r in rows:
        place = where(path, line)
        sigma = numbers(r, "sigma", place)
        max_cos = numbers(r, "max_cos", place, length=len(sigma))
        count = integer(r, "intruders", place, minimum=0)
        if count > len(sigma):
            raise InputError(f"{place}: 'intruders' is {count} but only {len(sigma)} vectors were measured")
        out.append(MonitorRow(path, integer(r, "step", place, minimum=0), text(r, "matrix", place),
                              sigma, max_cos, count))
    return out
