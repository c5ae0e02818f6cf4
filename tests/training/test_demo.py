"""`lorascope demo` is the train pipeline plus scans: on a tiny model, its JSON is what the runs trained."""

from __future__ import annotations

import json

from rich.console import Console

from lorascope.pipelines.demo import run_demo
from lorascope.pipelines.scan import scan
from lorascope.report.parse_scan import is_demo, parse_demo
from lorascope.training.config import TrainConfig


def test_demo_scans_the_final_checkpoint_of_each_train_run(llama_dir, cache_dir, tmp_path):
    short = dict(model=str(llama_dir), task="rt_polarity", train_examples=32, test_examples=16, batch_size=8,
                 max_length=24, max_steps=3, forget_chunks=0, k=4)
    runs = {"LoRA r=2": TrainConfig(method="lora", rank=2, lr=1e-2, **short),
            "full fine-tuning": TrainConfig(method="full", lr=3e-3, **short)}
    console = Console(file=open(tmp_path / "log.txt", "w"), width=200)  # noqa: SIM115
    out = tmp_path / "demo.json"
    results = run_demo(cache_dir=cache_dir, json_path=out, console=console, runs=runs)
    saved = json.loads(out.read_text())
    assert list(saved) == list(runs) and is_demo(saved)
    assert [s.label for s in parse_demo(saved, out)] == list(runs)
    runs_dir = cache_dir / "demo"
    for label, folder in zip(runs, sorted(runs_dir.iterdir(), key=lambda p: "full" in p.name), strict=True):
        rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows] == [0, 3] and saved[label]["accuracy"] == rows[-1]["accuracy"]
        again = scan(llama_dir, folder / rows[-1]["checkpoint"])
        assert again.total_intruders == results[label].total_intruders == saved[label]["scan"]["total_intruders"]
    assert results["LoRA r=2"].tuned_kind != results["full fine-tuning"].tuned_kind
    assert all(r.matrices for r in results.values())
    before = {p: p.stat().st_mtime_ns for p in runs_dir.rglob("results.jsonl")}
    run_demo(cache_dir=cache_dir, console=console, quiet=True, runs=runs)  # finished runs are reused
    assert {p: p.stat().st_mtime_ns for p in runs_dir.rglob("results.jsonl")} == before
