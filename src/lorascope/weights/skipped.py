"""A tensor that the plan does not analyse, with the reason; nothing is dropped without one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Skipped:
    """A tensor (BASE naming where it has one) left out of the analysis, and why."""

    name: str
    reason: str
