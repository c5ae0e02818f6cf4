"""The report's memory guard: what reading its inputs and rendering the page hold, from the inputs' sizes.

The report parses every input whole (JSON numbers become Python floats in lists and dicts) and keeps the
page in memory until it is written. Measured with tracemalloc over `build_report` on 4 to 48 real scan
JSONs (0.15 to 1.8 MB): the peak grew by 10.3 bytes per input byte, over 0.2 to 1.4 MB of fixed cost
(tests/report: 1.4 MB for 76 KB of scans), so the estimate is 8 MiB + 12 times the bytes of every JSON,
JSONL and Parquet file under the inputs (a headless browser drawing --format png runs in its own process
and is not counted).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from lorascope.memory import check_budget, format_bytes

PER_INPUT_BYTE = 12
FIXED = 8 * 2**20
SUFFIXES = (".json", ".jsonl", ".parquet")
HINT = "report fewer inputs at once (several smaller reports)"


def input_bytes(paths: Sequence[str | Path]) -> int:
    """Bytes of the JSON, JSONL and Parquet files among `paths` and under the folders among them."""
    total = 0
    for given in paths:
        path = Path(given)
        if path.is_file():
            total += path.stat().st_size
            continue
        for root, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            total += sum(os.path.getsize(os.path.join(root, n)) for n in names
                         if n.endswith(SUFFIXES) and not n.startswith("."))
    return total


def check_report_memory(paths: Sequence[str | Path]) -> None:
    """Raise ResourceError (one line: estimate, memory available, what helps) if the report cannot fit."""
    size = input_bytes(paths)
    need = FIXED + PER_INPUT_BYTE * size
    check_budget("report", need, f"{format_bytes(need)} ({format_bytes(FIXED)} + {PER_INPUT_BYTE} × the "
                 f"{format_bytes(size)} of JSON, JSONL and Parquet inputs)", hint=HINT)
