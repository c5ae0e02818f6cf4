"""Atomic file writes: a temp file in the same directory, fsync, then rename over the target."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from lorascope.errors import InputError


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` so readers see the old file or the whole new one, never a part."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a file path to write")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{path}: the directory {parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise InputError(f"{path}: cannot write here ({e.strerror})") from e
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(f"{path}: write failed ({e.strerror})") from e
    return path
