"""`lorascope demo`: the paper's contrast on a real model, in minutes on a laptop CPU.

all-MiniLM-L6-v2 (a real pretrained BERT encoder shipped on PyPI) is fine-tuned on Rotten Tomatoes
review polarity twice: with LoRA (r=8, α=16, every attention and MLP matrix) and fully (the same
matrices). Both fine-tunes are cached; then each is scanned against the pretrained model.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lorascope.atomic import atomic_write_text
from lorascope.cache import cache_root
from lorascope.datasets import rt_polarity
from lorascope.display import print_scan
from lorascope.pipelines.finetune import FinetuneConfig, accuracy, finetune_classifier
from lorascope.pipelines.scan import scan
from lorascope.resources import minilm_dir
from lorascope.results import ScanResult

# Short runs at the paper's learning rates change the weights too little to show anything; these rates
# are in the regime of its learning-rate sweep, where LoRA's update grows intruders (docs: PAPER.md §2.5).
DEMO_RUNS = {
    "LoRA r=8": FinetuneConfig(method="lora", rank=8, alpha=16, lr=2e-3, steps=300),
    "full fine-tuning": FinetuneConfig(method="full", lr=5e-5, steps=300),
}
TEST_EXAMPLES = 500


def _run_dir(root: Path, cfg: FinetuneConfig) -> Path:
    key = hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True).encode()).hexdigest()[:12]
    return root / "demo" / f"minilm-rt-{cfg.method}-{key}"


def ensure_finetuned(root: Path, cfg: FinetuneConfig, console: Console, quiet: bool) -> Path:
    """The cached fine-tune for `cfg`, trained (and written atomically) on first use."""
    out = _run_dir(root, cfg)
    if (out / "metrics.json").is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    task = rt_polarity()
    t0 = time.perf_counter()
    if not quiet:
        console.print(f"[dim]training {cfg.method} (first run only; cached in {out})…[/dim]")

    def progress(step: int, loss: float) -> None:
        if not quiet and (step % 50 == 0 or step == cfg.steps):
            console.print(f"[dim]  step {step}/{cfg.steps}  loss {loss:.3f}  {time.perf_counter() - t0:.0f} s[/dim]")

    model, tok = finetune_classifier(minilm_dir(), task, cfg, progress)
    acc = accuracy(model, tok, task.test[:TEST_EXAMPLES], max_length=cfg.max_length)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        atomic_write_text(tmp / "metrics.json", json.dumps(
            {"accuracy": acc, "test_examples": TEST_EXAMPLES, "train_seconds": time.perf_counter() - t0,
             "config": asdict(cfg)}, indent=1))
        try:
            tmp.rename(out)
        except OSError:
            if not (out / "metrics.json").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # a concurrent demo finished the same fine-tune first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def run_demo(cache_dir: Path | None = None, json_path: Path | None = None, console: Console | None = None,
             quiet: bool = False) -> dict[str, ScanResult]:
    """Train (once) and scan both fine-tunes; print the tables and the side-by-side summary."""
    console = console or Console()
    root = cache_root(cache_dir)
    base = minilm_dir()
    results: dict[str, ScanResult] = {}
    accs: dict[str, float] = {}
    for label, cfg in DEMO_RUNS.items():
        run = ensure_finetuned(root, cfg, console, quiet)
        accs[label] = json.loads((run / "metrics.json").read_text())["accuracy"]
        results[label] = scan(base, run)
    if not quiet:
        print_scan(results["LoRA r=8"], console)
    summary = Table(title="all-MiniLM-L6-v2 fine-tuned on Rotten Tomatoes polarity: LoRA vs full fine-tuning")
    for col in ["method", "test accuracy", "intruders (k=10, ε=0.5)", "at ε=0.7", "at ε=0.9",
                "mean eff. rank ΔW", "matrices"]:
        summary.add_column(col, justify="left" if col == "method" else "right")
    for label, r in results.items():
        totals = dict(zip(r.epsilons, r.epsilon_totals(), strict=True))
        erank = sum(m.analysis.delta.effective_rank for m in r.matrices) / len(r.matrices)
        summary.add_row(label, f"{accs[label]:.3f}", str(r.total_intruders), str(totals.get(0.7, "-")),
                        str(totals.get(0.9, "-")), f"{erank:.1f}", str(len(r.matrices)))
    console.print(summary)
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(
            {label: {"accuracy": accs[label], "scan": r.to_json()} for label, r in results.items()}, indent=1))
    return results
