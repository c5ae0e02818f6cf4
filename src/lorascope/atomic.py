"""Atomic file writes (a temp file in the same directory, fsync, then rename over the target), and the checks that
an output path can be written, run before the work so a long job does not fail at its end."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from lorascope.errors import InputError


def _parent(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def check_out_file(path: str | Path, option: str = "") -> Path:
    """`path` once a file may be written there: not a folder, in a folder that exists. The InputError names
    `option` with the path (e.g. `--json out.json: ...`)."""
    path = Path(path)
    named = f"{option} {path}" if option else str(path)
    if path.is_dir():
        raise InputError(f"{named}: is a directory, expected a file path")
    if not _parent(path).is_dir():
        raise InputError(f"{named}: the directory {_parent(path)} does not exist")
    return path


def check_out_folder(path: str | Path, option: str = "--out", *, parents: bool = True) -> Path:
    """`path` once results may be written in it: a folder, or nothing yet (then its parent folder must exist
    unless `parents`, when it is created with its parents). The InputError names `option` with the path."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}: exists and is not a folder")
    if not parents and not path.exists() and not _parent(path).is_dir():
        raise InputError(f"{option} {path}: the parent folder {_parent(path)} does not exist")
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` so readers see the old file or the whole new one, never a part."""
    path = check_out_file(path)
    parent = _parent(path)
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
