"""Field readers for loaded JSON that raise one InputError naming the file (and line) on a wrong value.

Shared by everything that reads its own result files back: results.py (scan JSON) and the report's parsers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from lorascope.errors import InputError

_MISSING = object()


def read_json(path: Path) -> Any:
    """The JSON value in file `path`; one InputError naming the file when it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read ({e})") from e
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from e


def where(path: Path, line: int | None = None) -> str:
    """`path` or `path:line`, as error messages name a place."""
    return f"{path}:{line}" if line is not None else str(path)


def _fail(place: str, key: str, expected: str, value: Any) -> InputError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return InputError(f"{place}: field {key!r} should be {expected}, got {shown}")


def get(obj: dict, key: str, place: str, default: Any = _MISSING) -> Any:
    """obj[key]; InputError naming `place` when it is missing and no default is given."""
    if not isinstance(obj, dict):
        raise InputError(f"{place}: expected a JSON object, got {type(obj).__name__}")
    if key in obj:
        return obj[key]
    if default is _MISSING:
        raise InputError(f"{place}: missing field {key!r}")
    return default


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(obj: dict, key: str, place: str, *, optional: bool = False) -> float | None:
    """A finite number (None allowed when `optional` and the value is null or missing)."""
    value = get(obj, key, place, None if optional else _MISSING)
    if value is None and optional:
        return None
    if not is_number(value):
        raise _fail(place, key, "a finite number" + (" or null" if optional else ""), value)
    return float(value)


def integer(obj: dict, key: str, place: str, *, optional: bool = False, minimum: int | None = None) -> int | None:
    """An int (not a bool), at least `minimum` when given."""
    value = get(obj, key, place, None if optional else _MISSING)
    if value is None and optional:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" ≥ {minimum}"
        raise _fail(place, key, f"an integer{bound}" + (" or null" if optional else ""), value)
    return value


def text(obj: dict, key: str, place: str, *, optional: bool = False) -> str | None:
    """A string."""
    value = get(obj, key, place, None if optional else _MISSING)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _fail(place, key, "a string", value)
    return value


def numbers(obj: dict, key: str, place: str, *, optional: bool = False,
            length: int | None = None) -> tuple[float, ...] | None:
    """A list of finite numbers (of `length` entries when given)."""
    value = get(obj, key, place, None if optional else _MISSING)
    if value is None and optional:
        return None
    if not isinstance(value, list) or not all(is_number(v) for v in value):
        raise _fail(place, key, "a list of finite numbers", value)
    if length is not None and len(value) != length:
        raise InputError(f"{place}: field {key!r} has {len(value)} entries, expected {length}")
    return tuple(float(v) for v in value)


def integers(obj: dict, key: str, place: str, *, optional: bool = False,
             length: int | None = None) -> tuple[int, ...] | None:
    """A list of non-negative integers (of `length` entries when given)."""
    value = get(obj, key, place, None if optional else _MISSING)
    if value is None and optional:
        return None
    ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    if not ok:
        raise _fail(place, key, "a list of integers ≥ 0", value)
    if length is not None and len(value) != length:
        raise InputError(f"{place}: field {key!r} has {len(value)} entries, expected {length}")
    return tuple(value)
