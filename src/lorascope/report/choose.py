"""Which matrices get a similarity map and a per-matrix view: the most intruded per scan, or a regex."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lorascope.errors import InputError
from lorascope.report.data import ScanData

MAX_MATRICES = 24


@dataclass(frozen=True)
class Choice:
    """The chosen matrix names, in drawing order, and how many matched before the cap."""

    names: tuple[str, ...]
    matched: int
    by_pattern: bool


def choose_matrices(scans: Sequence[ScanData], patterns: Sequence[str] = (), per_scan: int = 3) -> Choice:
    """With patterns: every matrix whose name matches one (first MAX_MATRICES); else per scan the
    `per_scan` matrices with the most intruders (ties: the lowest max |cos|, then model order)."""
    names: list[str] = []
    if patterns:
        try:
            compiled = [re.compile(p) for p in patterns]
        except re.error as e:
            raise InputError(f"--matrix: not a valid regular expression ({e})") from e
        for s in scans:
            for m in s.result.matrices:
                if m.name not in names and any(c.search(m.name) for c in compiled):
                    names.append(m.name)
        return Choice(tuple(names[:MAX_MATRICES]), len(names), True)
    for s in scans:
        ranked = sorted(range(len(s.result.matrices)),
                        key=lambda i, s=s: (-s.result.matrices[i].intruders, s.result.matrices[i].min_max_cos, i))
        for i in ranked[:per_scan]:
            if s.result.matrices[i].name not in names:
                names.append(s.result.matrices[i].name)
    return Choice(tuple(names), len(names), False)
