"""Run the real CLI as a child process: to completion (timed), or killed with SIGKILL after a given delay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def cli_env() -> dict[str, str]:
    """One torch thread, no hub access, no line wrapping."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "400", "PYTHONDONTWRITEBYTECODE": "1"}


def command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "lorascope.cli", *args]


def run(args: list[str], timeout: float = 300) -> float:
    """Run `lorascope ARGS` to completion; its wall time in seconds (fails the test on a non-zero exit)."""
    start = time.perf_counter()
    done = subprocess.run(command(args), capture_output=True, text=True, env=cli_env(), timeout=timeout)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, f"lorascope {' '.join(args)} failed:\n{done.stderr[-2000:]}"
    return seconds


def start(args: list[str]) -> subprocess.Popen:
    """`lorascope ARGS` started in the background (output captured)."""
    return subprocess.Popen(command(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env())


def run_and_kill(args: list[str], after: float) -> bool:
    """Start `lorascope ARGS`, SIGKILL it `after` seconds later; False if it had finished (exit 0) by then."""
    child = start(args)
    try:
        child.wait(timeout=after)
    except subprocess.TimeoutExpired:
        os.kill(child.pid, signal.SIGKILL)  # not yet reaped, so the pid is still this child's
    _, err = child.communicate()
    if child.returncode == -signal.SIGKILL:
        return True
    assert child.returncode == 0, f"lorascope {' '.join(args)} failed before the kill:\n{err}"
    return False  # it finished first (possibly in the instant before the kill)


def kill_points(seed: int, duration: float, count: int = 5) -> list[float]:
    """`count` seeded kill delays in the last three quarters of `duration` (the first is interpreter start-up)."""
    import random

    rng = random.Random(seed)
    return [rng.uniform(0.25 * duration, duration) for _ in range(count)]


def hidden_siblings(path: Path) -> list[str]:
    """Hidden entries beside `path` that belong to it (staging folders of `.NAME.tmp-*` / `.NAME.old-*`)."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))
