"""Two `index` and two `scan` processes on the same base and cache at once: one valid index, identical results."""

from __future__ import annotations

import json

from reliability import processes
from reliability.verify import entry_problems, leftover_tmp, untimed


def run_together(*commands: list[str]) -> list[str]:
    """Start every command at once, wait for all; their stdout (each must exit 0)."""
    children = [processes.start(args) for args in commands]
    outputs = [child.communicate(timeout=300) for child in children]
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    return [out for out, _ in outputs]


def test_two_index_processes_build_one_valid_index(saved, tmp_path):
    cache = tmp_path / "cache"
    printed = run_together(*[["index", str(saved.base), "--cache-dir", str(cache), "-q"]] * 2)
    assert all("indexed 72 matrices" in line for line in printed)
    from lorascope.index import index_layout

    assert len(index_layout(cache).entries()) == 72  # one entry per matrix, none twice
    assert entry_problems(cache) == []
    assert leftover_tmp(cache) == []


def test_two_scans_on_one_cold_cache_agree_with_an_uncached_scan(saved, tmp_path):
    cache = tmp_path / "cache"
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    run_together(*[["scan", str(saved.base), str(saved.tuned), "--cache-dir", str(cache), "--json", str(o), "-q"]
                   for o in outs])
    ref = tmp_path / "ref.json"
    processes.run(["scan", str(saved.base), str(saved.tuned), "--no-cache", "--json", str(ref), "-q"])
    a, b, expected = (untimed(json.loads(p.read_text())) for p in [*outs, ref])
    assert a == b == expected and len(expected["matrices"]) == 72
    assert entry_problems(cache) == [] and leftover_tmp(cache) == []
