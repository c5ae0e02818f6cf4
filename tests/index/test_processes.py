"""Real processes: two concurrent builders of one index, and a builder killed (SIGKILL) in the middle of a write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import lorascope
from index.builders import entry_dirs, scan_json, small_model
from lorascope.index import index_layout, read_entry, tensor_key
from lorascope.pipelines.index import build_index

SRC = Path(__file__).resolve().parents[2] / "src"

# Waits for a start signal (so both processes race), then runs the job and prints what it did as JSON.
RACER = """
import json, sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
import lorascope
from lorascope.pipelines.index import build_index
job, base, tuned, cache, go = sys.argv[1:6]
while not Path(go).exists():
    time.sleep(0.005)
if job == "index":
    print(json.dumps({m.name: m.status for m in build_index(base, cache_dir=cache).matrices}))
else:  # "scan" through the shared cache, or "nocache": the reference, in a process set up the same way
    result = lorascope.scan(base, tuned, cache_dir=cache) if job == "scan" else lorascope.scan(base, tuned, cache=False)
    print(json.dumps({"scan": {k: v for k, v in result.to_json().items() if k != "seconds"}}))
"""

# Builds the index, but on the 3rd array write (the 2nd entry's U.npy) writes half the file and hangs.
STALLER = """
import os, sys, time
from pathlib import Path
import numpy as np
import torch
torch.set_num_threads(1)
import lorascope.index.entry as entry
from lorascope.pipelines.index import build_index
base, cache, ready = sys.argv[1:4]
real, calls = entry._save, []
def stalling(path, array):
    calls.append(path)
    if len(calls) == 3:
        real(path, array)
        os.truncate(path, path.stat().st_size // 2)
        Path(ready).write_text(str(path))
        time.sleep(600)
    real(path, array)
entry._save = stalling
build_index(base, cache_dir=cache)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def _spawn(script: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _assert_all_entries_valid(cache: Path, model) -> None:
    layout = index_layout(cache)
    keys = {tensor_key(model.base_tensors[n]).digest: tensor_key(model.base_tensors[n]) for n in model.names}
    assert {p.name for p in entry_dirs(cache)} == set(keys)
    for key in keys.values():
        assert read_entry(layout, key).spectrum is not None
    assert not layout.tmp.exists() or not list(layout.tmp.iterdir())


@pytest.mark.parametrize("jobs", [("index", "index"), ("scan", "scan")])
def test_two_processes_build_one_index_concurrently(tmp_path, jobs):
    model = small_model(tmp_path, layers=2)
    cache, go = tmp_path / "cache", tmp_path / "go"
    procs = [_spawn(RACER, job, model.base, model.adapter, cache, go) for job in jobs]
    time.sleep(0.5)
    go.write_text("")
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    _assert_all_entries_valid(cache, model)
    # The reference runs in a process started like the racers (one torch thread set before import): the float64
    # solves' last bits follow the process's thread set-up, which is not what this test is about.
    solo = _spawn(RACER, "nocache", model.base, model.adapter, tmp_path / "unused-cache", go)
    out, err = solo.communicate(timeout=240)
    assert solo.returncode == 0, err
    solo_scan = json.loads(out.strip().splitlines()[-1])["scan"]
    for job, out in zip(jobs, outputs, strict=True):
        if job == "scan":
            assert out["scan"] == solo_scan
    reference = scan_json(lorascope.scan(model.base, model.adapter, cache=False))
    if jobs == ("index", "index"):
        # the entry lock: each matrix is decomposed by exactly one of the two processes
        for name in model.names:
            assert sorted(out[name] for out in outputs) == ["built", "hit"]
    assert scan_json(lorascope.scan(model.base, model.adapter, cache_dir=cache)) == reference


def test_kill_9_mid_write_then_rerun_gives_identical_index_and_results(tmp_path):
    model = small_model(tmp_path, layers=2)
    cache, ready = tmp_path / "cache", tmp_path / "ready"
    proc = _spawn(STALLER, model.base, cache, ready)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the builder never reached its second entry"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    layout = index_layout(cache)
    half_written = Path(ready.read_text())
    assert half_written.parent.parent == layout.tmp and half_written.exists()
    assert not (half_written.parent / "meta.json").exists()
    assert len(entry_dirs(cache)) == 1  # the finished entry is kept, the half-written one is not an entry
    keys = [tensor_key(model.base_tensors[n]) for n in sorted(model.names)]  # index order = stored order
    assert read_entry(layout, keys[0]).spectrum is not None
    assert not read_entry(layout, keys[1]).exists  # never served

    report = build_index(model.base, cache_dir=cache)  # resume
    assert [m.status for m in report.matrices] == ["hit"] + ["built"] * (len(keys) - 1)
    assert not list(layout.tmp.iterdir())  # the dead builder's tmp folder was cleaned
    _assert_all_entries_valid(cache, model)

    clean = tmp_path / "clean"
    build_index(model.base, cache_dir=clean)
    for key in keys:
        resumed, fresh = index_layout(cache).entry(key.digest), index_layout(clean).entry(key.digest)
        for name in ("U.npy", "S.npy"):
            assert np.array_equal(np.load(resumed / name), np.load(fresh / name)), (key.digest, name)
    resumed_scan = scan_json(lorascope.scan(model.base, model.adapter, cache_dir=cache))
    assert resumed_scan == scan_json(lorascope.scan(model.base, model.adapter, cache_dir=clean))
    assert resumed_scan == scan_json(lorascope.scan(model.base, model.adapter, cache=False))
