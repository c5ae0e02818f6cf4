"""Clean-up of tmp folders: a dead writer's are removed, a live writer's never, other hosts' only when old."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from lorascope.index import clean_tmp, index_layout
from lorascope.index.layout import STALE_TMP_SECONDS, _host


def test_clean_tmp_keeps_live_writers_and_removes_dead_or_old_ones(tmp_path):
    layout = index_layout(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    folders = {
        "mine": layout.tmp / f"aaaa.{_host()}.{os.getpid()}.x1",
        "dead": layout.tmp / f"bbbb.{_host()}.{dead_pid}.x2",
        "other-fresh": layout.tmp / "cccc.elsewhere.1.x3",
        "other-old": layout.tmp / "dddd.elsewhere.1.x4",
    }
    for folder in folders.values():
        folder.mkdir(parents=True)
        (folder / "U.npy").write_bytes(b"partial")
    old = time.time() - STALE_TMP_SECONDS - 60
    os.utime(folders["other-old"], (old, old))
    assert clean_tmp(layout) == 2
    assert {name for name, f in folders.items() if f.exists()} == {"mine", "other-fresh"}
