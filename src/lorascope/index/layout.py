"""Where the base spectral index lives on disk, and the clean-up of what killed builders left behind.

<cache>/base-index/v1/
    ab/<digest>/{U.npy, S.npy, meta.json}   one finished entry per content key (meta.json written last)
    tmp/<name>.<host>.<pid>.<random>         entries being written, and replaced entries being deleted
    locks/<digest>.lock                      advisory locks, so two builders do not compute the same entry
An entry appears only by renaming a complete tmp folder, so readers never see a partial one; tmp
folders of dead processes are removed by `clean_tmp`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from lorascope.cache import cache_root

VERSION_DIR = "v1"
STALE_TMP_SECONDS = 24 * 3600  # tmp folders of other hosts (or unknowable owners) older than this are removed


def _host() -> str:
    return "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname()) or "host"


@dataclass(frozen=True)
class IndexLayout:
    """Paths of one index root (created on first write, not here)."""

    root: Path

    def entry(self, digest: str) -> Path:
        """The folder of the finished entry `digest`."""
        return self.root / digest[:2] / digest

    def lock(self, digest: str) -> Path:
        """The advisory lock file of entry `digest`."""
        return self.root / "locks" / f"{digest}.lock"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def new_tmp(self, label: str) -> Path:
        """A fresh, empty, uniquely named folder under tmp/ that records this host and process."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        path = self.tmp / f"{label[:16]}.{_host()}.{os.getpid()}.{uuid.uuid4().hex[:12]}"
        path.mkdir()
        return path

    def entries(self) -> list[Path]:
        """Folders of finished entries (by name; not verified)."""
        if not self.root.is_dir():
            return []
        return sorted(p for d in self.root.iterdir() if len(d.name) == 2 and d.is_dir()
                      for p in d.iterdir() if p.is_dir() and len(p.name) == 64)


def index_layout(cache_dir: str | Path | None = None) -> IndexLayout:
    """The index under `cache_root(cache_dir)` (--cache-dir, else $LORASCOPE_CACHE, else the user cache)."""
    return IndexLayout(cache_root(cache_dir) / "base-index" / VERSION_DIR)


def _alive(pid: int) -> bool:
    """Whether process `pid` exists on this host and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def clean_tmp(layout: IndexLayout, max_age: float = STALE_TMP_SECONDS) -> int:
    """Remove tmp folders whose writer died (this host), or of other hosts older than `max_age`; returns the count."""
    if not layout.tmp.is_dir():
        return 0
    removed, host, now = 0, _host(), time.time()
    for path in layout.tmp.iterdir():
        parts = path.name.rsplit(".", 3)
        try:
            owner_host, pid = parts[1], int(parts[2])
            age = now - path.lstat().st_mtime
        except (IndexError, ValueError, OSError):
            continue
        if owner_host == host and (pid == os.getpid() or _alive(pid)):
            continue  # a live writer on this host: never touch its folder
        if owner_host == host or age > max_age:
            shutil.rmtree(path, ignore_errors=True)
            removed += not path.exists()
    return removed
