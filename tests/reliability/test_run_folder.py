"""Two processes on one output folder: the second waits for the first (saying so), and both end with whole,
identical ledgers and tables; a kill -9 of either, waiting or working, still leaves a folder that resumes to the
tables of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lorascope.folder_lock import folder_lock, lock_path
from reliability import processes

EXPERIMENT = Path(__file__).resolve().parents[2] / "experiments" / "seeds.toml"
TIMING = ("seconds", "sec_per_step", "eval_seconds")
WAITING = "another lorascope process is writing to it"

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from lorascope.folder_lock import folder_lock
    with folder_lock(sys.argv[1], "test", print):
        Path(sys.argv[2]).write_text("held")
        time.sleep(float(sys.argv[3]))
""")


def _holder(folder: Path, flag: Path, seconds: float) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), str(flag), str(seconds)],
                             env=processes.cli_env())
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the lock holder did not start"
        time.sleep(0.05)
    return child


def test_lock_is_per_folder_whatever_its_spelling(tmp_path):
    (tmp_path / "a").mkdir()
    assert lock_path(tmp_path / "a") == lock_path(tmp_path / "a" / ".." / "a") == lock_path(f"{tmp_path}/a/")
    assert lock_path(tmp_path / "a") != lock_path(tmp_path / "b")
    os.symlink(tmp_path / "a", tmp_path / "link")
    assert lock_path(tmp_path / "link") == lock_path(tmp_path / "a")


@pytest.mark.parametrize("end", ["exit", "kill -9"])
def test_a_second_process_waits_for_the_holder_and_says_so(tmp_path, end):
    """The holder sleeps 2 s then exits, or sleeps 10 min and is killed -9 after 2 s: either way the waiter
    says so once, gets the lock within seconds, and nothing is written into the folder."""
    folder = tmp_path / "out"
    holder = _holder(folder, tmp_path / "held", seconds=2.0 if end == "exit" else 600)
    if end == "kill -9":
        threading.Timer(2.0, os.kill, (holder.pid, signal.SIGKILL)).start()  # not yet reaped: still the child
    said: list[str] = []
    start = time.monotonic()
    with folder_lock(folder, "run", said.append):
        waited = time.monotonic() - start
    holder.wait(timeout=60)
    assert len(said) == 1 and str(folder) in said[0] and WAITING in said[0] and "run waits" in said[0]
    assert 1.0 < waited < 60
    assert not folder.exists()  # the lock lives outside the folder
    with folder_lock(folder, "run", said.append):  # released: taken again at once, without a note
        assert len(said) == 1


def test_kill_9_of_a_waiting_process_leaves_the_holder_alone(tmp_path):
    folder = tmp_path / "out"
    holder = _holder(folder, tmp_path / "held", seconds=3.0)
    waiter = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), str(tmp_path / "never"), "0"],
                              env=processes.cli_env(), stdout=subprocess.PIPE, text=True)
    assert WAITING in waiter.stdout.readline()  # it waits (and said so)
    os.kill(waiter.pid, signal.SIGKILL)
    waiter.communicate()
    assert holder.wait(timeout=60) == 0 and not (tmp_path / "never").exists()
    said: list[str] = []
    with folder_lock(folder, "run", said.append):
        assert said == []  # neither the finished holder nor the killed waiter holds it


def _overrides(model: Path) -> dict[str, dict]:
    """The quick profile of seeds.toml shrunk to one LoRA run of 4 steps on the tiny LLaMA."""
    return {"train": {"model": str(model), "train_layers": "top:1", "max_length": 32, "train_examples": 32,
                      "test_examples": 16, "forget_chunks": 1, "forget_chunk_length": 48, "max_steps": 4,
                      "save_every": 2, "eval_batch_size": 16},
            "grid": {"ranks": [1], "seeds": [0]}}


def _run_args(model: Path, out: Path, cache: Path) -> list[str]:
    args = ["run", str(EXPERIMENT), "--profile", "quick", "--out", str(out), "--cache-dir", str(cache)]
    for section, values in _overrides(model).items():
        args += [x for key, value in values.items() for x in ("--set", f"{section}.{key}={json.dumps(value)}")]
    return args


def _tables(out: Path) -> dict[str, list[dict]]:
    """Every table of a finished run folder, rows without timings, paths inside it written as OUT/..."""
    manifest = json.loads((out / "manifest.json").read_text())
    found = {}
    for name, table in manifest["tables"].items():
        rows = pq.read_table(out / table["path"]).to_pylist()
        found[name] = [{k: v.replace(str(out), "OUT") if isinstance(v, str) else v for k, v in r.items()
                        if k not in TIMING} for r in rows]
    return found


def _ledger_whole(out: Path) -> None:
    for record in (out / "ledger").glob("*.json"):
        data = json.loads(record.read_text())
        assert data["key"] == record.stem and "result" in data


def _held(folder: Path) -> bool:
    """Whether some process holds `folder`'s lock now (its lock file's inode is in /proc/locks)."""
    path = lock_path(folder)
    if not path.exists():
        return False
    inode = f":{path.stat().st_ino} "
    return any(inode in line for line in Path("/proc/locks").read_text().splitlines())


def _pair(args: list[str], folder: Path) -> tuple[subprocess.Popen, subprocess.Popen]:
    """The same command twice, the second started once the first holds `folder` (so the first is the worker)."""
    first = processes.start(args)
    deadline = time.monotonic() + 300
    while not _held(folder):
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()[1][-2000:]
        time.sleep(0.05)
    return first, processes.start(args)


def test_two_runs_on_one_folder_end_whole_and_equal_and_survive_kill_9(saved, tmp_path):
    from lorascope.recipes.run import run_experiment

    cache = tmp_path / "cache"
    reference = run_experiment(EXPERIMENT, "quick", tmp_path / "reference", overrides=_overrides(saved.trainable),
                               cache_dir=cache).out
    expected = _tables(reference)
    assert sum(len(rows) for rows in expected.values()) > 0

    # both at once: one waits (and says so), both exit 0, one ledger record per job, the reference's tables
    together = tmp_path / "together"
    start = time.monotonic()
    first, second = _pair(_run_args(saved.trainable, together, cache), together)
    first.wait(timeout=600)
    duration = time.monotonic() - start
    results = [(child.wait(timeout=600), child.communicate()[1]) for child in (first, second)]
    assert [code for code, _ in results] == [0, 0], [err[-2000:] for _, err in results]
    assert WAITING not in results[0][1] and WAITING in results[1][1], results[1][1][-500:]
    _ledger_whole(together)
    assert _tables(together) == expected
    assert sorted(p.name for p in (together / "ledger").iterdir()) == \
        sorted(p.name for p in (reference / "ledger").iterdir())

    # kill -9 of the working one half-way: the waiting one takes over and ends with the same tables
    out = tmp_path / "killed"
    worker, waiter = _pair(_run_args(saved.trainable, out, cache), out)
    time.sleep(0.5 * duration)
    os.kill(worker.pid, signal.SIGKILL)  # not yet reaped: the pid is still the child's
    worker.communicate()
    code = waiter.wait(timeout=600)
    err = waiter.communicate()[1]
    assert code == 0, err[-2000:]
    _ledger_whole(out)
    assert _tables(out) == expected
