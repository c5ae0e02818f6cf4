"""Where lorascope keeps what it computes once: `--cache-dir`, else $LORASCOPE_CACHE, else the user cache dir."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from platformdirs import user_cache_dir


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache directory to use (not created here)."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("LORASCOPE_CACHE")
    return Path(env) if env else Path(user_cache_dir("lorascope"))


def file_stamps(folder: Path, keep: Callable[[Path], bool]) -> tuple[tuple[str, int, int], ...]:
    """(name, size, mtime) of every file in `folder` that `keep` accepts, by name: what an in-process cache of
    something read from those files is keyed on (OSError when `folder` cannot be listed)."""
    stamps = []
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and keep(path):
            stat = path.stat()
            stamps.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(stamps)
