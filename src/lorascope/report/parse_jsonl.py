"""Read JSON Lines: one object per non-empty line; InputError naming file and line on bad JSON.

A last line that has no newline yet and does not parse is a write in progress (the monitor appends while
training runs); it is left out rather than failing the report.
"""

from __future__ import annotations

import json
from pathlib import Path

from lorascope.errors import InputError


def read_jsonl(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) for every non-empty line of `path`."""
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read ({e})") from e
    lines = content.splitlines()
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            if number == len(lines) and not content.endswith("\n"):
                break
            raise InputError(f"{path}:{number}: not valid JSON ({e.msg})") from e
        if not isinstance(obj, dict):
            raise InputError(f"{path}:{number}: expected a JSON object per line, got {type(obj).__name__}")
        rows.append((number, obj))
    return rows
