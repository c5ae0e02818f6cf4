"""Where lorascope keeps what it computes once: `--cache-dir`, else $LORASCOPE_CACHE, else the user cache dir."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache directory to use (not created here)."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("LORASCOPE_CACHE")
    return Path(env) if env else Path(user_cache_dir("lorascope"))
