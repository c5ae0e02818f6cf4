"""Memory guard: estimate what a dense SVD of one matrix needs and refuse it up front, instead of an OOM kill.

Pipelines call `check_dense` right before a matrix's dense solves (a base spectrum not yet in the index, the
singular values of a dense ΔW, a full SVD for --solver exact or --k-fractions); the pure spectral code
never reads system state. Available memory is `LORASCOPE_MEMORY_LIMIT` when set (bytes, or with a
K/M/G/T suffix: the budget lorascope may use), else MemAvailable from /proc/meminfo; when neither can be
read there is no check. `check_budget` does the same for a whole job estimated up front (train, forget:
lorascope.training.footprint).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lorascope.errors import InputError, ResourceError

ENV = "LORASCOPE_MEMORY_LIMIT"
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def dense_solve_bytes(shape: tuple[int, int]) -> int:
    """Peak extra memory of one matrix's dense float64 solves: 8·(4mn + mp + pn + 4p²) bytes, p = min(m, n).

    Float64 copies of the matrix, U (m×p), V (p×n) and the p×p Gram/eigh or LAPACK workspace. Measured
    peaks (tests/reliability/test_memory.py) are 52–81% of it for base_spectrum, 74–80% for the full SVD,
    29–60% for delta_stats (the high end is scipy's BLAS buffers, allocated on first use); what a whole scan
    added in the README's benchmark is 60% of it for 4096², 84% for 11008×4096.
    """
    m, n = (int(x) for x in shape)
    p = min(m, n)
    return 8 * (4 * m * n + m * p + p * n + 4 * p * p)


def parse_size(text: str) -> int:
    """'2G', '512M', '1.5GiB', '4096' -> bytes (binary units); InputError naming LORASCOPE_MEMORY_LIMIT."""
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:i?B)?\s*", text, flags=re.IGNORECASE)
    if not found:
        raise InputError(f"{ENV}={text!r}: expected a size such as 8G, 512M or a number of bytes")
    return int(float(found[1]) * _UNITS[found[2].upper()])


def available_bytes() -> tuple[int, str] | None:
    """(bytes lorascope may use, where that figure came from), or None when it cannot be known."""
    limit = os.environ.get(ENV)
    if limit:
        return parse_size(limit), ENV
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024, "MemAvailable"
    except (OSError, ValueError, IndexError):
        return None
    return None


def format_bytes(n: float) -> str:
    """Bytes as a short human string (binary units)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def memory_hint(workers: int = 1, *more: str) -> str:
    """The options that help when a dense solve would not fit (for the end of the ResourceError)."""
    options = ["run fewer --workers"] if workers > 1 else []
    options += [*more, "leave the matrix out with --exclude REGEX"]
    return (", ".join(options[:-1]) + " or " if len(options) > 1 else "") + options[-1] + (
        f"; {ENV} overrides the memory figure if it is wrong for this machine")


def check_dense(name: str, shape: tuple[int, int], *, hint: str, workers: int = 1) -> None:
    """Raise ResourceError if `workers` dense solves of a `shape` matrix would not fit in available memory."""
    have = available_bytes()
    if have is None:
        return
    available, source = have
    need = dense_solve_bytes(shape) * max(1, workers)
    if need > available:
        times = f" ({workers} workers at once)" if workers > 1 else ""
        raise ResourceError(
            f"{name}: a dense SVD of its {shape[0]}×{shape[1]} matrix needs about {format_bytes(need)}{times}, "
            f"but only {format_bytes(available)} is available ({source}); {hint}"
        )


def check_budget(what: str, need: int, described: str, *, hint: str, loaded: int = 0) -> None:
    """Raise ResourceError if a job estimated at `need` bytes (`described`: the estimate's parts) cannot fit.

    `loaded` of it is already in memory (a model read before the check): MemAvailable no longer counts it,
    a LORASCOPE_MEMORY_LIMIT budget does. The message names the estimate, the memory and the option that helps.
    """
    have = available_bytes()
    if have is None:
        return
    available, source = have
    missing = need - loaded if source == "MemAvailable" else need
    if missing > available:
        after = f", with {format_bytes(loaded)} of it already loaded" if source == "MemAvailable" and loaded else ""
        raise ResourceError(f"{what}: needs about {described}, but only {format_bytes(available)} is "
                            f"available ({source}{after}); {hint}; {ENV} overrides the memory figure if it is "
                            "wrong for this machine")
