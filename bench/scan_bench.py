"""Benchmark: naive two-SVD intruder counting vs lorascope scan (cold and warm index), at every model size.

Builds LLaMA-7B-shaped base matrices with realistic spectra (a decaying heavy tail of spikes with
near-degenerate pairs, over a Marchenko–Pastur bulk), a LoRA adapter (r=16, α=32) whose update plants
intruders, and a full fine-tune (a small dense high-rank update), all written to a temp dir as real
bf16 safetensors + PEFT adapter files, so the real pipeline runs. Then, in this one process and on the
same matrices:

- naive: two full float32 SVDs per matrix, as the paper's official code does (SVD(W0) is timed once per
  matrix and counted in both the adapter and the full-checkpoint comparisons);
- lorascope cold: `scan` with an empty index (the base spectra are built inside the measured time);
- lorascope warm: the same scan again, the index now built (the fastest of --repeat runs, each checked);

for the adapter and for the full checkpoint. Reports seconds per matrix, the speed-ups, peak RSS per phase,
whether the intruder sets agree with naive (count, indices, max|cos| within 1e-3), and which solver ran
how often (cost.py's dense or iterative paths, "identical", and the exact-fallback rate).

Sizes (--sizes): SmolLM2-135M's shapes (576 / 1536), a 1B-class model's (2048 / 5504) and LLaMA-7B's
(4096 / 11008). --real BASE ADAPTER CHECKPOINT adds rows on a real model: every matrix the scan pairs,
naive on the same matrices (e.g. SmolLM2 with an adapter and a full checkpoint made by `lorascope train`).

    python bench/scan_bench.py --quick          # three 4096 × 4096 matrices; ~4 minutes on 2 cores
    python bench/scan_bench.py --sizes smollm2,1b --real BASE ADAPTER CHECKPOINT   # small models, real rows
    python bench/scan_bench.py                  # two matrices per LLaMA-7B shape (--per-shape), extrapolated to 224
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import gc
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file

import lorascope
from lorascope.index import usable_cores

K, EPSILON, RANK, ALPHA = 10, 0.5, 16, 32
# name template and count per LLaMA-7B layer of each (out, in) shape
SHAPES = {
    (4096, 4096): ("model.layers.{i}.self_attn.q_proj.weight", 4),  # q, k, v, o
    (11008, 4096): ("model.layers.{i}.mlp.up_proj.weight", 2),  # gate, up
    (4096, 11008): ("model.layers.{i}.mlp.down_proj.weight", 1),  # down
}
# Smaller models' shapes (not in the 7B extrapolation): SmolLM2-135M (hidden 576, MLP 1536) and 1B-class (2048, 5504)
SHAPES.update({
    (576, 576): ("model.layers.{i}.self_attn.o_proj.weight", 0),
    (1536, 576): ("model.layers.{i}.mlp.gate_proj.weight", 0),
    (576, 1536): ("model.layers.{i}.mlp.down_proj.weight", 0),
    (2048, 2048): ("model.layers.{i}.self_attn.o_proj.weight", 0),
    (5504, 2048): ("model.layers.{i}.mlp.gate_proj.weight", 0),
    (2048, 5504): ("model.layers.{i}.mlp.down_proj.weight", 0),
})
SIZES = {"smollm2": [(576, 576), (1536, 576), (576, 1536)], "1b": [(2048, 2048), (5504, 2048), (2048, 5504)],
         "7b": [(4096, 4096), (11008, 4096), (4096, 11008)]}
LAYERS_7B = 32
QUICK_PER_SHAPE = 3


# ---------------------------------------------------------------- synthetic model

def _orthonormal(rows: int, cols: int, g: torch.Generator) -> torch.Tensor:
    return torch.linalg.qr(torch.randn(rows, cols, generator=g))[0]


def base_matrix(m: int, n: int, g: torch.Generator) -> torch.Tensor:
    """MP bulk (σ_max ≈ 1) + 96 spikes 1 + 40·i^-0.8 with near-degenerate pairs and a 4-cluster."""
    bulk = torch.randn(m, n, generator=g) / (math.sqrt(m) + math.sqrt(n))
    spikes = 96
    s = 1.0 + 40.0 * (torch.arange(spikes, dtype=torch.float64) + 1) ** -0.8
    for i, rel in ((2, 1e-3), (12, 1e-3), (30, 1e-4), (60, 1e-5)):
        s[i + 1] = s[i] * (1 - rel)  # near-degenerate pairs
    s[70:74] = s[70] * (1 - 1e-5 * torch.arange(4, dtype=torch.float64))  # a cluster of four
    U, V = _orthonormal(m, spikes, g), _orthonormal(n, spikes, g)
    return bulk + (U * s.to(torch.float32)) @ V.T


def lora_factors(m: int, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """B (m, r), A (r, n) with (α/r)·B·A = Σ d_i b_i a_iᵀ: four strong random directions plant intruders."""
    d = torch.tensor([30.0, 20.0, 12.0, 8.0] + [0.5] * (RANK - 4))
    half = (d / (ALPHA / RANK)).sqrt()
    B = _orthonormal(m, RANK, g) * half
    A = (_orthonormal(n, RANK, g) * half).T.contiguous()
    return B.contiguous(), A


def full_update(W0: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A small dense high-rank update (spectral norm ≈ 0.02 of a bulk edge of 1): what full FT looks like."""
    m, n = W0.shape
    return 0.02 * torch.randn(m, n, generator=g) / (math.sqrt(m) + math.sqrt(n))


@dataclass
class Model:
    root: Path
    base: Path
    adapter: Path
    full: Path
    names: dict[tuple[int, int], list[str]] = field(default_factory=dict)


def write_model(root: Path, shapes: list[tuple[int, int]], per_shape: int, seed: int) -> Model:
    """Base, adapter and full fine-tune as real files (bf16 checkpoints, float32 adapter)."""
    g = torch.Generator().manual_seed(seed)
    model = Model(root, root / "base", root / "adapter", root / "full")
    for d in (model.base, model.adapter, model.full):
        d.mkdir(parents=True)
    base, full, factors = {}, {}, {}
    layer = 0
    for shape in shapes:
        template, _ = SHAPES[shape]
        model.names[shape] = []
        for _ in range(per_shape):
            name = template.format(i=layer)
            layer += 1
            W0 = base_matrix(*shape, g)
            base[name] = W0.to(torch.bfloat16)
            full[name] = (W0 + full_update(W0, g)).to(torch.bfloat16)
            B, A = lora_factors(*shape, g)
            module = "base_model.model." + name.removesuffix(".weight")
            factors[module + ".lora_A.weight"], factors[module + ".lora_B.weight"] = A, B
            model.names[shape].append(name)
            del W0
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
              "intermediate_size": 11008, "num_hidden_layers": layer}
    for folder, tensors in ((model.base, base), (model.full, full)):
        save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
        (folder / "config.json").write_text(json.dumps(config))
    save_file(factors, str(model.adapter / "adapter_model.safetensors"), metadata={"format": "pt"})
    targets = sorted({n.rsplit(".", 2)[-2] for names in model.names.values() for n in names})
    (model.adapter / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": RANK, "lora_alpha": ALPHA, "target_modules": targets,
        "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False, "use_rslora": False,
        "base_model_name_or_path": str(model.base)}))
    return model


# ---------------------------------------------------------------- measurement helpers

def reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (Linux ≥ 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_mb() -> float:
    """Current resident set size (VmRSS), MB; nan where /proc is absent."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size since the last reset (VmHWM), else since start (ru_maxrss)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Verdict:
    intruders: list[bool]
    max_cos: list[float]


def naive_verdict(U0: torch.Tensor, Ut: torch.Tensor) -> Verdict:
    """The official code's test: |Ut[:, :k]ᵀ U0| max over all base vectors, < ε."""
    best = (Ut[:, :K].T @ U0).abs().max(dim=1).values
    return Verdict([bool(c < EPSILON) for c in best], [float(c) for c in best])


def run_naive_pairs(base: Path, tuned: Path) -> Phase:
    """Naive on a real model: two float32 SVDs for every matrix the scan pairs (unchanged ones too, as the paper's
    code and PEFT do), W_tuned formed densely from an adapter."""
    from lorascope.spectral import LowRankUpdate
    from lorascope.weights import plan_pairs

    plan = plan_pairs(base, tuned)
    verdicts, seconds = {}, 0.0
    reset_peak()
    for pair in plan.pairs:
        W0, tuned_matrix = pair.load()
        W0 = W0.float()
        factored = isinstance(tuned_matrix, LowRankUpdate)
        Wt = W0 + tuned_matrix.dense(torch.float32) if factored else tuned_matrix.float()
        t = time.perf_counter()
        U0 = torch.linalg.svd(W0, full_matrices=False)[0]
        verdicts[pair.name] = naive_verdict(U0, torch.linalg.svd(Wt, full_matrices=False)[0])
        seconds += time.perf_counter() - t
        del W0, Wt, U0
    n = len(plan.pairs)
    return Phase(seconds, seconds / n, peak_rss_mb(), verdicts=verdicts)


def lorascope_verdicts(result) -> dict[str, Verdict]:
    return {m.name: Verdict([t.intruder for t in m.analysis.top], [t.max_cos for t in m.analysis.top])
            for m in result.matrices}


@dataclass
class Phase:
    seconds: float
    per_matrix: float
    peak_mb: float
    base_mb: float = float("nan")
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    solvers: list[str] = field(default_factory=list)
    # Seconds per matrix after the first (nan with one matrix): a long scan's rate, once the start-up (planning,
    # the first read, which nothing overlaps, first-touch of the reused buffers) is paid.
    steady: float = float("nan")


def run_naive(model: Model, names: list[str], full: bool = True) -> tuple[Phase, Phase]:
    """Two float32 SVDs per matrix (SVD(W0) once, shared) for the adapter and for the full fine-tune (if `full`)."""
    from safetensors import safe_open

    t_base = t_lora = t_full = 0.0
    lora_v, full_v = {}, {}
    reset_peak()
    with safe_open(str(model.base / "model.safetensors"), "pt") as fb, \
            safe_open(str(model.full / "model.safetensors"), "pt") as ff, \
            safe_open(str(model.adapter / "adapter_model.safetensors"), "pt") as fa:
        for name in names:
            module = "base_model.model." + name.removesuffix(".weight")
            W0 = fb.get_tensor(name).float()
            t = time.perf_counter()
            U0 = torch.linalg.svd(W0, full_matrices=False)[0]
            t_base += time.perf_counter() - t
            B, A = fa.get_tensor(module + ".lora_B.weight"), fa.get_tensor(module + ".lora_A.weight")
            Wl = W0 + (ALPHA / RANK) * (B @ A)
            t = time.perf_counter()
            lora_v[name] = naive_verdict(U0, torch.linalg.svd(Wl, full_matrices=False)[0])
            t_lora += time.perf_counter() - t
            del Wl
            if full:
                Wf = ff.get_tensor(name).float()
                t = time.perf_counter()
                full_v[name] = naive_verdict(U0, torch.linalg.svd(Wf, full_matrices=False)[0])
                t_full += time.perf_counter() - t
                del Wf
            del W0, U0
            gc.collect()
    peak = peak_rss_mb()
    n = len(names)
    return (Phase(t_base + t_lora, (t_base + t_lora) / n, peak, verdicts=lora_v),
            Phase(t_base + t_full, (t_base + t_full) / n, peak, verdicts=full_v))


def run_scan(base: Path, tuned: Path, names: list[str] | None, cache: Path, workers: int, device: str,
             update_stats: bool = True) -> Phase:
    """One timed `lorascope.scan` of `names` (None: every matrix it pairs)."""
    include = () if names is None else ["^(" + "|".join(n.replace(".", r"\.") for n in names) + ")$"]
    gc.collect()
    before = rss_mb()
    reset_peak()
    starts: dict[int, float] = {}

    def progress(i: int, n: int, name: str) -> None:  # called as matrix i is awaited, i.e. when i - 1 is done
        starts.setdefault(i, time.perf_counter())

    t = time.perf_counter()
    result = lorascope.scan(base, tuned, include=include, cache_dir=cache, workers=workers, device=device,
                            update_stats=update_stats, progress=progress)
    end = time.perf_counter()
    seconds = end - t
    peak = peak_rss_mb()
    n = len(result.matrices)
    steady = (end - starts[1]) / (n - 1) if n > 1 and workers == 1 else float("nan")
    return Phase(seconds, seconds / n, peak, before, lorascope_verdicts(result),
                 [m.analysis.solver for m in result.matrices], steady)


def compare(naive: Phase, ours: Phase) -> tuple[bool, float]:
    """(same intruder count and indices on every matrix, largest |Δ max|cos|| over the top k)."""
    same, worst = True, 0.0
    for name, v in naive.verdicts.items():
        w = ours.verdicts[name]
        same &= v.intruders == w.intruders
        worst = max(worst, max(abs(a - b) for a, b in zip(v.max_cos, w.max_cos, strict=True)))
    return same, worst


# ---------------------------------------------------------------- report

def _fmt(x: float) -> str:
    return f"{x:.3f}" if x < 0.1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def solver_counts(solvers: list[str]) -> str:
    """'dense 20, identical 182', most frequent first."""
    return ", ".join(f"{name} {count}" for name, count in collections.Counter(solvers).most_common())


def report(rows: list[dict], working_set_mb: float, extrapolate: dict[str, float] | None) -> str:
    lines = ["| tuned | shape | matrices | naive s/matrix | cold s/matrix | warm s/matrix (after the first) "
             "| naive/cold | naive/warm (after the first) "
             "| peak RSS cold / warm (MB) | intruders naive = lorascope | max Δ|cos| | solvers cold / warm |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        steady = "" if math.isnan(r["warm_steady"]) else f" ({_fmt(r['warm_steady'])})"
        steady_ratio = "" if math.isnan(r["warm_steady"]) else f" ({r['naive'] / r['warm_steady']:.1f}×)"
        lines.append(
            f"| {r['tuned']} | {r['shape']} | {r['matrices']} | {_fmt(r['naive'])} | {_fmt(r['cold'])} | "
            f"{_fmt(r['warm'])}{steady} | {r['naive'] / r['cold']:.1f}× | "
            f"{r['naive'] / r['warm']:.1f}×{steady_ratio} | "
            f"{r['peak_cold']:.0f} / {r['peak_warm']:.0f} | "
            f"{'identical' if r['same'] else 'DIFFERENT'} ({r['count']}) | {r['cos']:.1e} | "
            f"{r['solvers_cold']} / {r['solvers']} |")
    lines.append("")
    fallback = [(r["tuned"], r["shape"], r["fallback_cold"], r["fallback_warm"], r["matrices"]) for r in rows]
    lines.append("exact-fallback (cold / warm, of all matrices): " + "; ".join(
        f"{t} {s}: {c} / {w} of {n}" for t, s, c, w, n in fallback))
    lines.append("")
    peak = max(max(r["peak_cold"], r["peak_warm"]) for r in rows)
    growth = max(r["growth"] for r in rows)
    naive = max(r["peak_naive"] for r in rows)
    lines.append(f"Working set of the largest matrix (W0 and W_tuned in float64): {working_set_mb:.0f} MB. "
                 f"lorascope: peak RSS {peak:.0f} MB = {peak / working_set_mb:.1f}× the working set; the scan itself "
                 f"added at most {growth:.0f} MB = {growth / working_set_mb:.1f}× it to the process "
                 f"(naive phase peak: {naive:.0f} MB).")
    if extrapolate:
        lines.append("")
        lines.append("Extrapolated to a whole LLaMA-7B (224 matrices: 128 × 4096², 64 × 11008×4096, 32 × 4096×11008; "
                     "warm: the rate after the first matrix, plus the largest start-up once):")
        for label, seconds in extrapolate.items():
            lines.append(f"- {label}: {seconds / 60:.1f} min")
    return "\n".join(lines)


def measure_row(kind: str, label: str, base: Path, tuned: Path, names: list[str] | None, naive: Phase,
                cache: Path, args: argparse.Namespace, stats: bool) -> tuple[dict, Phase]:
    """Cold scan, then --repeat warm scans (the fastest reported, every one checked against naive)."""
    cold = run_scan(base, tuned, names, cache, args.workers, args.device, stats)
    # A warm scan takes ~1 s, so one interruption moves it by 10–20 %: keep the fastest of a few runs
    # (as timeit does), and the largest memory peak of them.
    runs = [run_scan(base, tuned, names, cache, args.workers, args.device, stats) for _ in range(args.repeat)]
    warm = dataclasses.replace(min(runs, key=lambda r: r.seconds), peak_mb=max(r.peak_mb for r in runs))
    print(f"{label} {kind}: cold {cold.per_matrix:.3f} s, warm {warm.per_matrix:.3f} s per matrix "
          f"(naive {naive.per_matrix:.3f}); the scan added {cold.peak_mb - cold.base_mb:.0f} / "
          f"{warm.peak_mb - warm.base_mb:.0f} MB; solvers cold {solver_counts(cold.solvers)}, "
          f"warm {solver_counts(warm.solvers)}", flush=True)
    same_c, cos_c = compare(naive, cold)
    checks = [compare(naive, r) for r in runs]
    same_w, cos_w = all(c[0] for c in checks), max(c[1] for c in checks)
    row = {"tuned": kind, "shape": label, "matrices": len(cold.solvers), "naive": naive.per_matrix,
           "cold": cold.per_matrix, "warm": warm.per_matrix, "warm_steady": warm.steady,
           "peak_cold": cold.peak_mb, "peak_warm": warm.peak_mb, "peak_naive": naive.peak_mb,
           "growth": max(cold.peak_mb - cold.base_mb, warm.peak_mb - warm.base_mb),
           "same": same_c and same_w, "cos": max(cos_c, cos_w),
           "count": sum(sum(v.intruders) for v in naive.verdicts.values()),
           "solvers_cold": solver_counts(cold.solvers), "solvers": solver_counts(warm.solvers),
           "fallback_cold": cold.solvers.count("exact-fallback"),
           "fallback_warm": warm.solvers.count("exact-fallback")}
    shutil.rmtree(cache, ignore_errors=True)
    return row, warm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="three 4096×4096 matrices (< 5 min on 2 cores)")
    parser.add_argument("--sizes", default=None,
                        help="comma list of smollm2 (576/1536), 1b (2048/5504), 7b (4096/11008), or none "
                             "(default: 7b; --quick: one 4096² shape)")
    parser.add_argument("--shapes", default=None, help="e.g. 4096x4096,11008x4096 (instead of --sizes)")
    parser.add_argument("--per-shape", type=int, default=2, help="matrices of each shape")
    parser.add_argument("--real", nargs=3, type=Path, default=None, metavar=("BASE", "ADAPTER", "CHECKPOINT"),
                        help="also rows on a real model: its base, a PEFT adapter and a full checkpoint of it")
    parser.add_argument("--rows", default="adapter,full,full-no-stats",
                        help="which synthetic rows per shape: adapter, full, full-no-stats (comma list)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for naive and lorascope alike (default: torch's; 1 on a busy machine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="warm scans per row; the fastest is reported")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir, removed)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers as JSON here")
    args = parser.parse_args(argv)
    if args.shapes:
        shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")]
        for s in shapes:
            SHAPES.setdefault(s, (f"model.layers.{{i}}.mlp.x_{s[0]}x{s[1]}.weight", 0))
    elif args.sizes:
        shapes = [shape for size in args.sizes.split(",") if size != "none" for shape in SIZES[size]]
    else:
        shapes = [(4096, 4096)] if args.quick else SIZES["7b"]
    # Several matrices per shape, so the steady state of a long scan (reused buffers, overlapped reads) shows.
    per_shape = QUICK_PER_SHAPE if args.quick else args.per_shape
    if args.threads:
        torch.set_num_threads(args.threads)
    work = args.dir or Path(tempfile.mkdtemp(prefix="lorascope-bench-"))
    start = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {usable_cores()} cores, "
          f"load average {load:.1f}; work dir {work}", flush=True)
    try:
        rows, per_shape_seconds, working_set_mb = [], {}, 0.0
        if args.real:
            from lorascope.weights import plan_pairs

            base, adapter, checkpoint = args.real
            largest = max(max(pair.shape[0] * pair.shape[1] for pair in plan_pairs(base, t).pairs)
                          for t in (adapter, checkpoint))
            working_set_mb = 16 * largest / 2**20
            for tuned, kinds in ((adapter, [("LoRA adapter (real)", True)]),
                                 (checkpoint, [("full checkpoint (real)", True),
                                               ("full checkpoint (real), --no-update-stats", False)])):
                naive = run_naive_pairs(base, tuned)
                print(f"real {tuned}: naive {naive.per_matrix:.3f} s per matrix ({len(naive.verdicts)})", flush=True)
                for kind, stats in kinds:
                    rows.append(measure_row(kind, f"{base.name}", base, tuned, None, naive,
                                            work / f"cache-real-{len(rows)}", args, stats)[0])
        model = write_model(work / "model", shapes, per_shape, args.seed) if shapes else None
        if model is not None:
            print(f"wrote the model files in {time.perf_counter() - start:.0f} s", flush=True)
        for shape in shapes:
            names = model.names[shape]
            label = f"{shape[0]}×{shape[1]}"
            naive_lora, naive_full = run_naive(model, names, full=args.rows != "adapter")
            print(f"{label}: naive {naive_lora.per_matrix:.2f} / {naive_full.per_matrix:.2f} s per matrix", flush=True)
            for key, kind, tuned, naive, stats in (
                    ("adapter", "LoRA adapter", model.adapter, naive_lora, True),
                    ("full", "full checkpoint", model.full, naive_full, True),
                    ("full-no-stats", "full checkpoint, --no-update-stats", model.full, naive_full, False)):
                # The last row does the work naive does (the intruder test, no ΔW effective rank).
                if key not in args.rows.split(","):
                    continue
                cache = work / f"cache-{kind.split()[0]}-{label}"
                row, warm = measure_row(kind, label, model.base, tuned, names, naive, cache, args, stats)
                rows.append(row)
                # Warm over a whole model: each matrix at the rate after the first, plus the start-up once.
                rate = warm.per_matrix if math.isnan(warm.steady) else warm.steady
                per_shape_seconds[(kind, shape)] = (naive.per_matrix, row["cold"], rate,
                                                    warm.seconds - rate * len(names))
        if shapes:
            largest_shape = max(shapes, key=lambda s: s[0] * s[1])
            working_set_mb = max(working_set_mb, 16 * largest_shape[0] * largest_shape[1] / 2**20)
        extrapolate = None
        if all(s in shapes for s in SHAPES if SHAPES[s][1]) and args.rows == parser.get_default("rows"):
            extrapolate = {}
            for kind in ("LoRA adapter", "full checkpoint", "full checkpoint, --no-update-stats"):
                for i, what in enumerate(("naive", "lorascope cold", "lorascope warm")):
                    total = sum(LAYERS_7B * count * per_shape_seconds[(kind, s)][i]
                                for s, (_, count) in SHAPES.items() if count)
                    if what == "lorascope warm":
                        total += max(per_shape_seconds[(kind, s)][3] for s, (_, c) in SHAPES.items() if c)
                    extrapolate[f"{kind}, {what}"] = total
        table = report(rows, working_set_mb, extrapolate)
        print()
        print(f"python bench/scan_bench.py {' '.join(str(a) for a in (argv if argv is not None else sys.argv[1:]))}"
              .rstrip())
        print(table)
        load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"\n(total bench time {time.perf_counter() - start:.0f} s; torch threads {torch.get_num_threads()}, "
              f"{usable_cores()} cores, load average {load:.1f} at start, {load_end:.1f} at end)")
        if args.json:
            args.json.write_text(json.dumps({"rows": rows, "working_set_mb": working_set_mb,
                                             "extrapolate": extrapolate}, indent=1))
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
