"""Benchmark: scanning N LoRA adapters of one base with `multi_scan` on the local executor and on Ray.

Writes a synthetic LLaMA-shaped base (L blocks × q/k/v/o of width×width and up/down of width×2·width, real
safetensors + config.json) and N PEFT adapters (r = 8, every module adapted, a few strong directions that
plant intruders), then runs the same multi-input scan three times, each with an empty base index:
local executor, Ray with 1 CPU, Ray with 2 CPUs (a fresh local instance each; its start-up is timed
apart). Reported per run: wall time of the scan (index build included), adapters per second, the index
work (jobs, base matrices decomposed by the index jobs, base spectra computed by the scan jobs), the
number of index builds (index phases run: must equal the number of base models, 1, not the number of
tasks), and whether every written JSON equals the local executor's field by field (wall time aside).

    python bench/ray_bench.py --quick     # 4 adapters of a 2-block, 256-wide base
    python bench/ray_bench.py             # 8 adapters of a 4-block, 512-wide base
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from lorascope.pipelines.multi_scan import INDEX_FILE, MultiScanReport, RunOptions, multi_scan
from lorascope.pipelines.scan import ScanOptions

RANK, ALPHA = 8, 16
SQUARE = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")


@dataclass
class Row:
    run: str
    cpus: int
    start_s: float  # Ray start-up (ray.init), not part of seconds
    seconds: float
    task_seconds: float  # summed inside the tasks: task_seconds / seconds = tasks running at once on average
    adapters: int
    tasks: int
    index_jobs: int
    index_built: int
    computed_in_scans: int
    index_builds: int  # index phases run (one per base model)
    retries: int
    same_as_local: bool | None


def shapes(width: int) -> dict[str, tuple[int, int]]:
    """Module -> (out, in) of one block."""
    return {**{m: (width, width) for m in SQUARE}, "mlp.up_proj": (2 * width, width),
            "mlp.down_proj": (width, 2 * width)}


def write_base(folder: Path, layers: int, width: int, g: torch.Generator) -> dict[str, tuple[int, int]]:
    """A base of decaying-spectrum matrices; returns module path -> (out, in)."""
    folder.mkdir(parents=True)
    tensors, modules = {}, {}
    for i in range(layers):
        for module, (m, n) in shapes(width).items():
            path = f"model.layers.{i}.{module}"
            bulk = torch.randn(m, n, generator=g) / (math.sqrt(m) + math.sqrt(n))
            spikes = torch.linalg.qr(torch.randn(m, 16, generator=g))[0] * (1 + 10 * torch.rand(16, generator=g))
            tensors[f"{path}.weight"] = (bulk + spikes @ torch.linalg.qr(torch.randn(n, 16, generator=g))[0].T)
            modules[path] = (m, n)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "model.safetensors"),
              metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return modules


def write_adapter(folder: Path, modules: dict[str, tuple[int, int]], g: torch.Generator) -> None:
    """A PEFT LoRA adapter of every module: (α/r)·B·A with four strong random directions."""
    folder.mkdir(parents=True)
    strength = (torch.tensor([6.0, 4.0, 3.0, 2.0] + [0.2] * (RANK - 4)) / (ALPHA / RANK)).sqrt()
    tensors = {}
    for path, (m, n) in modules.items():
        B = torch.linalg.qr(torch.randn(m, RANK, generator=g))[0] * strength
        A = (torch.linalg.qr(torch.randn(n, RANK, generator=g))[0] * strength).T
        tensors[f"base_model.model.{path}.lora_A.weight"] = A.contiguous()
        tensors[f"base_model.model.{path}.lora_B.weight"] = B.contiguous()
    save_file(tensors, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
    targets = sorted({p.rsplit(".", 1)[-1] for p in modules})
    (folder / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": RANK, "lora_alpha": ALPHA, "target_modules": targets, "lora_dropout": 0.0,
         "bias": "none", "fan_in_fan_out": False}))


def same_outputs(a: Path, b: Path) -> bool:
    """Every per-input JSON in `a` equals the one in `b`, the wall time aside."""
    names = sorted(p.name for p in a.iterdir() if p.name != INDEX_FILE)
    if names != sorted(p.name for p in b.iterdir() if p.name != INDEX_FILE):
        return False
    for name in names:
        x, y = (json.loads((d / name).read_text()) for d in (a, b))
        x.pop("seconds"), y.pop("seconds")
        if x != y:
            return False
    return True


def run_once(label: str, cpus: int, base: Path, sweep: Path, root: Path, run: RunOptions,
             reference: Path | None) -> tuple[Row, MultiScanReport]:
    start_s = 0.0
    if run.executor == "ray":
        import ray

        t = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level="warning")
        start_s = time.perf_counter() - t
    try:
        t = time.perf_counter()
        report = multi_scan(base, [sweep], root / f"out-{label}", ScanOptions(cache_dir=root / f"cache-{label}"), run)
        seconds = time.perf_counter() - t
    finally:
        if run.executor == "ray":
            ray.shutdown()
    tasks = sum(e.jobs for e in report.scans) + report.index_jobs
    same = None if reference is None else same_outputs(root / f"out-{label}", reference)
    task_seconds = sum(e.result.seconds for e in report.scans) + report.index_seconds
    row = Row(label, cpus, start_s, seconds, task_seconds, len(report.scans), tasks, report.index_jobs,
              report.index_built, report.computed_in_scans, int(report.index_jobs > 0), len(report.retries), same)
    return row, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--adapters", type=int)
    parser.add_argument("--layers", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--group-size", type=int, default=6)
    args = parser.parse_args()
    adapters = args.adapters or (4 if args.quick else 8)
    layers = args.layers or (2 if args.quick else 4)
    width = args.width or (256 if args.quick else 512)
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="lorascope-ray-bench-") as tmp:
        root = Path(tmp)
        g = torch.Generator().manual_seed(0)
        modules = write_base(root / "base", layers, width, g)
        for i in range(adapters):
            write_adapter(root / "sweep" / f"adapter-{i}", modules, g)
        print(f"{adapters} adapters × {len(modules)} matrices (width {width}, {layers} blocks), "
              f"group size {args.group_size}, 1 torch thread per task; load average {load:.1f}")
        rows = []
        local, _ = run_once("local", 1, root / "base", root / "sweep", root,
                            RunOptions(group_size=args.group_size), None)
        rows.append(local)
        for cpus in (1, 2):
            row, _ = run_once(f"ray-{cpus}", cpus, root / "base", root / "sweep", root,
                              RunOptions(executor="ray", group_size=args.group_size), root / "out-local")
            rows.append(row)
    print(f"load average at the end {os.getloadavg()[0]:.1f}\n")
    print("| executor | CPUs | Ray start s | scan s (cold index) | adapters/s | task s / scan s | tasks | index jobs "
          "| base matrices built | computed in scan tasks | index builds | retries | JSON = local |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        same = "—" if r.same_as_local is None else ("identical" if r.same_as_local else "DIFFERENT")
        print(f"| {r.run} | {r.cpus} | {r.start_s:.1f} | {r.seconds:.1f} | {r.adapters / r.seconds:.2f} "
              f"| {r.task_seconds / r.seconds:.2f} | {r.tasks} "
              f"| {r.index_jobs} | {r.index_built} | {r.computed_in_scans} | {r.index_builds} | {r.retries} "
              f"| {same} |")


if __name__ == "__main__":
    main()
