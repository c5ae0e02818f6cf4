"""Recognise a `lorascope scan` JSON (the README's schema) or the demo's `{label: {accuracy, scan}}` file; the scan
itself is read and checked by ScanResult.from_json."""

from __future__ import annotations

from pathlib import Path

from lorascope.json_fields import is_number
from lorascope.report.data import ScanData
from lorascope.results import ScanResult

SCAN_KEYS = ("matrices", "epsilons", "epsilon_totals", "k", "epsilon")


def is_scan(obj: object) -> bool:
    """Whether a loaded JSON value has the shape of a scan result."""
    return isinstance(obj, dict) and all(key in obj for key in SCAN_KEYS)


def is_demo(obj: object) -> bool:
    """Whether a loaded JSON value is the demo's {label: {"accuracy": float, "scan": scan}} file."""
    return (isinstance(obj, dict) and bool(obj)
            and all(isinstance(v, dict) and is_scan(v.get("scan")) for v in obj.values()))


def parse_scan(obj: dict, path: Path, label: str, accuracy: float | None = None, inner: str = "") -> ScanData:
    """The scan read back (ScanResult.from_json); InputError naming the file (and matrix) on any wrong field."""
    return ScanData(label=label, path=path, result=ScanResult.from_json(obj, f"{path}{inner}"), accuracy=accuracy)


def parse_demo(obj: dict, path: Path) -> list[ScanData]:
    """The scans of the demo's JSON, labelled by its keys ("LoRA r=8", "full fine-tuning")."""
    scans = []
    for label, entry in obj.items():
        acc = entry.get("accuracy")
        acc = float(acc) if is_number(acc) else None
        scans.append(parse_scan(entry["scan"], path, str(label), acc, inner=f" [{label!r}].scan"))
    return scans
