"""`kill -9` at seeded random points during index, scan, scale and train; the rerun must equal an uninterrupted run.

Each test first runs the command uninterrupted in its own folders (the reference, and its duration T), then
starts it again in fresh folders and kills it at 5 seeded points in the last three quarters of T, each kill
hitting a rerun of the same command over what the previous kill left. After every kill, what is on disk must
be whole (no unverifiable index entry, no partial output, a results.jsonl that is a prefix of the reference);
a last rerun must finish with results identical to the reference, leaving no temp folder behind. A rerun that
finishes before its kill point clears the folders, so the next kill again lands in the middle of real work.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file

from reliability import processes
from reliability.verify import entry_problems, leftover_tmp, tree_digest, untimed

SEEDS = {"index": 101, "scan": 102, "scale": 103, "train": 104}


def index_contents(cache: Path) -> dict[str, tuple]:
    """digest -> (U.npy hash, S.npy hash, meta.json without its creation time) of every index entry."""
    from lorascope.index import index_layout

    out = {}
    for folder in index_layout(cache).entries():
        meta = json.loads((folder / "meta.json").read_text())
        meta.pop("created_unix", None)
        out[folder.name] = (hashlib.sha256((folder / "U.npy").read_bytes()).hexdigest(),
                            hashlib.sha256((folder / "S.npy").read_bytes()).hexdigest(), meta)
    return out


def chain(args: list[str], seed: int, duration: float, check, reset) -> int:
    """Kill at 5 seeded points over successive reruns (check() after each), reset() when a rerun finished first;
    then one last uninterrupted rerun. Returns how many runs were really killed."""
    killed = 0
    for delay in processes.kill_points(seed, duration):
        was_killed = processes.run_and_kill(args, delay)
        check()
        if was_killed:
            killed += 1
        else:
            reset()
    processes.run(args)
    return killed


def test_index_killed_then_rerun(saved, tmp_path):
    ref = tmp_path / "ref"
    duration = processes.run(["index", str(saved.base), "--cache-dir", str(ref), "-q"])
    expected = index_contents(ref)
    cache = tmp_path / "cache"
    args = ["index", str(saved.base), "--cache-dir", str(cache), "-q"]

    def check() -> None:
        assert entry_problems(cache) == []
        got = index_contents(cache)
        assert {k: got[k] for k in got} == {k: expected[k] for k in got}  # every entry present is the final one

    killed = chain(args, SEEDS["index"], duration, check, lambda: shutil.rmtree(cache, ignore_errors=True))
    assert index_contents(cache) == expected and len(expected) == 72
    assert leftover_tmp(cache) == []
    print(f"index: {killed} of 5 runs killed (T = {duration:.1f} s)")


def test_scan_killed_then_rerun(saved, tmp_path):
    ref = tmp_path / "ref.json"
    duration = processes.run(["scan", str(saved.base), str(saved.tuned), "--cache-dir", str(tmp_path / "ref-cache"),
                              "--json", str(ref), "-q"])
    expected = untimed(json.loads(ref.read_text()))
    cache, out = tmp_path / "cache", tmp_path / "scan.json"
    args = ["scan", str(saved.base), str(saved.tuned), "--cache-dir", str(cache), "--json", str(out), "-q"]

    def check() -> None:
        assert entry_problems(cache) == []
        assert not out.exists() or untimed(json.loads(out.read_text())) == expected
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".scan.json")] == []

    def reset() -> None:
        shutil.rmtree(cache, ignore_errors=True)
        out.unlink(missing_ok=True)

    killed = chain(args, SEEDS["scan"], duration, check, reset)
    assert untimed(json.loads(out.read_text())) == expected
    assert len(expected["matrices"]) == 72
    assert leftover_tmp(cache) == []
    print(f"scan: {killed} of 5 runs killed (T = {duration:.1f} s)")


def scale_output(out: Path) -> tuple[dict, dict]:
    """Hashes of every file written by scale except scale.json, and scale.json without timing and paths."""
    report = json.loads((out / "scale.json").read_text().replace(str(out), "OUT"))
    return tree_digest(out, skip=("scale.json",)), untimed(report)


def test_scale_killed_then_rerun(saved, tmp_path):
    ref = tmp_path / "ref" / "scaled"
    ref.parent.mkdir()
    common = [str(saved.base), str(saved.adapter), "--lambda", "0.5", "--force", "-q"]
    duration = processes.run(["scale", *common, "--out", str(ref), "--cache-dir", str(tmp_path / "ref-cache")])
    expected = scale_output(ref)
    assert expected[0]  # the adapter files
    cache, out = tmp_path / "cache", tmp_path / "scaled"
    args = ["scale", *common, "--out", str(out), "--cache-dir", str(cache)]

    def check() -> None:
        assert entry_problems(cache) == []
        assert not out.exists() or scale_output(out) == expected  # the output is whole or absent

    def reset() -> None:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)

    killed = chain(args, SEEDS["scale"], duration, check, reset)
    assert scale_output(out) == expected
    assert processes.hidden_siblings(out) == []  # staging folders of killed runs were removed
    assert leftover_tmp(cache) == []
    print(f"scale: {killed} of 5 runs killed (T = {duration:.1f} s)")


def train_rows(run: Path) -> list[dict]:
    path = run / "results.jsonl"
    return [untimed(json.loads(line)) for line in path.read_text().splitlines()] if path.exists() else []


def final_params(run: Path) -> dict:
    state = run / "state" / (run / "state" / "LATEST").read_text().strip()
    return load_file(state / "params.safetensors")


def test_train_killed_then_resumed(saved, tmp_path):
    common = ["--model", str(saved.trainable), "--train-examples", "48", "--test-examples", "8", "--batch-size", "8",
              "--max-length", "32", "--save-every", "1", "--eval-every", "2", "--forget-chunks", "0",
              "--cache-dir", str(tmp_path / "cache"), "-q"]
    ref = tmp_path / "ref"
    duration = processes.run(["train", "--out", str(ref), *common])
    expected = train_rows(ref)
    assert [r["step"] for r in expected] == [0, 2, 4, 6]
    run = tmp_path / "run"
    args = ["train", "--out", str(run), *common]

    def check() -> None:
        rows = train_rows(run)
        assert rows == expected[: len(rows)]  # what was recorded is exactly the reference's start

    killed = chain(args, SEEDS["train"], duration, check, lambda: shutil.rmtree(run, ignore_errors=True))
    assert train_rows(run) == expected
    a, b = final_params(ref), final_params(run)
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    print(f"train: {killed} of 5 runs killed (T = {duration:.1f} s)")


@pytest.fixture(autouse=True)
def _no_default_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LORASCOPE_CACHE", str(tmp_path / "default-cache"))
