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


def _run_args(model: Path, out: Path, cache: Path) -> list[str]:
    sets = {"train.model": f'"{model}"', "train.train_layers": '"top:1"', "train.max_length": "32",
            "train.train_examples": "32", "train.test_examples": "16", "train.forget_chunks": "1",
            "train.forget_chunk_length": "48", "train.max_steps": "4", "train.save_every": "2",
            "train.eval_batch_size": "16", "grid.ranks": "[1]", "grid.seeds": "[0]"}
    args = ["run", str(EXPERIMENT), "--profile", "quick", "--out", str(out), "--cache-dir", str(cache)]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
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


def _together(args: list[str]) -> list[tuple[int, str]]:
    first = processes.start(args)
    time.sleep(0.5)
    second = processes.start(args)
    return [(child.wait(timeout=600), child.communicate()[1]) for child in (first, second)]


def test_two_runs_on_one_folder_end_whole_and_equal_and_survive_kill_9(saved, tmp_path):
    cache = tmp_path / "cache"
    reference = tmp_path / "reference"
    duration = processes.run(_run_args(saved.trainable, reference, cache))
    expected = _tables(reference)
    assert sum(len(rows) for rows in expected.values()) > 0

    # both at once: one waits (and says so), both exit 0, one ledger record per job, the reference's tables
    together = tmp_path / "together"
    results = _together(_run_args(saved.trainable, together, cache))
    assert [code for code, _ in results] == [0, 0], results
    assert sum(WAITING in err for _, err in results) == 1, [err[-500:] for _, err in results]
    _ledger_whole(together)
    assert _tables(together) == expected
    assert sorted(p.name for p in (together / "ledger").iterdir()) == \
        sorted(p.name for p in (reference / "ledger").iterdir())

    # kill -9 of the worker while the other waits, then of a waiter: the survivor finishes with the same tables
    for victim in (0, 1):
        out = tmp_path / f"killed-{victim}"
        children = [processes.start(_run_args(saved.trainable, out, cache))]
        time.sleep(0.5)
        children.append(processes.start(_run_args(saved.trainable, out, cache)))
        time.sleep(0.6 * duration)
        os.kill(children[victim].pid, signal.SIGKILL)
        survivor = children[1 - victim]
        code = survivor.wait(timeout=600)
        _, err = survivor.communicate()
        children[victim].communicate()
        assert code == 0, err[-2000:]
        _ledger_whole(out)
        assert _tables(out) == expected, victim
