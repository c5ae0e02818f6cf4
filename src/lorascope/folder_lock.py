"""One process at a time per output folder: `run` and `train` hold a lock on theirs while they work.

A second process pointed at the same folder waits for the first, saying so once, then resumes from what the
first left (the ledger, the tables, the run's saved state), so both end with the same, whole outputs. The
lock is a file in a per-user folder under the system temp directory, named by a hash of the output folder's
real path: nothing is written into the folder itself (a refused input still leaves it untouched), and the
OS releases the lock when its holder exits, kill -9 included. It covers processes on one machine (a folder
on a network file system shared by two machines is not locked across them).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout


def lock_path(folder: str | Path) -> Path:
    """The lock file standing for `folder` (the same for every spelling of its path)."""
    real = os.path.realpath(os.path.abspath(os.fspath(folder)))
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    name = hashlib.sha256(real.encode()).hexdigest()[:32]
    return Path(tempfile.gettempdir()) / f"lorascope-locks-{user}" / f"{name}.lock"


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str, notify: Callable[[str], None]) -> Iterator[None]:
    """Hold `folder`'s lock for the block; if another process holds it, `notify` one line and wait for it."""
    path = lock_path(folder)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        notify(f"{folder}: another lorascope process is writing to it; this {what} waits for it to finish, "
               "then resumes from what it left")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
