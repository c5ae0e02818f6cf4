"""Benchmark: `lorascope scale` against PEFT's `reduce_intruder_dimension` on the same LoRA adapter.

Both scale every intruder among the top k (PEFT's rule; lorascope's target "all-intruders") by λ. Reported
per case: wall time of each (lorascope: read BASE and adapter, analyse, write the new adapter; PEFT: the call
alone, on a model already loaded), and how far each result is from the exact formula
W0 + ΔW + (λ − 1)·Σ_intruders σ·u·vᵀ. The reference is float64 and independent of both tools: intruders from
eigh(W0 W0ᵀ), triplets from eigh(W_t W_tᵀ). Each result is rebuilt in float64 from the factors it wrote.

    python bench/scale_bench.py --quick     # MiniLM (if installed) + one 4096-wide matrix, a few minutes
    python bench/scale_bench.py             # MiniLM + four 4096-wide matrices
"""

from __future__ import annotations

import argparse
import copy
import math
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass
class Row:
    case: str
    modules: int
    intruded: int
    lorascope_s: float  # cold: every base spectrum computed (empty base spectral index)
    warm_s: float  # the same run again: base spectra read from the index filled by the cold run
    peft_s: float
    lorascope_err: float  # max over modules of ‖W − W_exact‖_F / ‖W_exact‖_F
    peft_err: float
    lorascope_corr_err: float  # the same, relative to ‖(λ − 1)·Σ σ u vᵀ‖_F (the size of the change)
    peft_corr_err: float


class Stack(nn.Module):
    """Plain square nn.Linear layers, the module set of a synthetic model."""

    def __init__(self, width: int, count: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in range(count))


def _synthetic_weight(width: int, generator: torch.Generator) -> torch.Tensor:
    """A pretrained-like matrix: a random bulk plus 32 outlying singular directions (σ 6 down to 2.2)."""
    W = torch.randn(width, width, generator=generator) / math.sqrt(width)
    a = torch.randn(width, 32, generator=generator)
    b = torch.randn(width, 32, generator=generator)
    a, b = a / a.norm(dim=0), b / b.norm(dim=0)
    return W + (a * torch.linspace(6, 2.2, 32)) @ b.T


def _randomize(peft_model, seed: int, scale: float) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.copy_(scale * torch.randn(param.shape, generator=generator))


def _save_adapter(model, target_modules, rank: int, folder: Path, scale: float, seed: int = 0):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=target_modules)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = get_peft_model(copy.deepcopy(model), config)
        _randomize(peft_model, seed, scale)
        peft_model.save_pretrained(folder)


def _reference(W0: torch.Tensor, Wt: torch.Tensor, lam: float, k: int, eps: float):
    """(W_exact, the change, intruder indices) from float64 eigendecompositions of the Gram matrices."""
    _, U0 = torch.linalg.eigh(W0 @ W0.T)
    U0 = U0[:, -min(W0.shape) :]  # the left singular vectors; for a tall W0 the rest span its null space
    values, Ut = torch.linalg.eigh(Wt @ Wt.T)
    Ut = Ut[:, -k:].flip(1)
    sigma = values[-k:].flip(0).clamp_min(0).sqrt()
    cos = (Ut.T @ U0).abs().max(dim=1).values
    chosen = [j for j in range(k) if cos[j] < eps]
    change = torch.zeros_like(Wt)
    for j in chosen:
        u = Ut[:, j]
        v = Wt.T @ u / sigma[j]
        change += (lam - 1) * sigma[j] * torch.outer(u, v)
    return Wt + change, change, chosen


def _errors(W: torch.Tensor, exact: torch.Tensor, change: torch.Tensor) -> tuple[float, float]:
    diff = float(torch.linalg.matrix_norm(W - exact))
    corr = float(torch.linalg.matrix_norm(change))
    return diff / float(torch.linalg.matrix_norm(exact)), diff / corr if corr > 0 else 0.0


def run_case(name: str, base_dir: Path, model, adapter_dir: Path, work: Path, args) -> Row:
    """Time both tools on one adapter and measure both results against the exact formula."""
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer
    from peft.tuners.lora.intruders import reduce_intruder_dimension

    from lorascope.pipelines.scale import scale
    from lorascope.weights import plan_pairs, read_adapter

    out = work / f"{name}-out"
    times = []
    for run in ("cold", "warm"):
        start = time.perf_counter()
        result = scale(
            base_dir,
            adapter_dir,
            work / f"{name}-{run}",
            args.lam,
            target="all-intruders",
            k=args.k,
            epsilon=args.epsilon,
            cache_dir=work / "index",
        )
        times.append(time.perf_counter() - start)
    out = work / f"{name}-cold"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = PeftModel.from_pretrained(copy.deepcopy(model), adapter_dir)
    start = time.perf_counter()
    reduce_intruder_dimension(
        peft_model,
        top_k=args.k,
        threshold_epsilon=args.epsilon,
        mitigation_lambda=args.lam,
        logging_sink=None,
    )
    peft_s = time.perf_counter() - start
    peft_layers = {
        n.removeprefix("base_model.model."): m
        for n, m in peft_model.named_modules()
        if isinstance(m, LoraLayer)
    }

    written = read_adapter(out)
    written_modules = {m.module: m for m in written.modules}
    plan = plan_pairs(base_dir, adapter_dir)
    chosen = {m.name: m.indices for m in result.matrices}
    worst = [0.0, 0.0, 0.0, 0.0]
    intruded = 0
    for pair in plan.pairs:
        W0, update = pair.load()
        W0 = W0.to(torch.float64)
        Wt = W0 + update.dense(torch.float64)
        exact, change, ref_chosen = _reference(W0, Wt, args.lam, args.k, args.epsilon)
        intruded += bool(ref_chosen)
        if tuple(ref_chosen) != tuple(chosen.get(pair.name, ())):
            print(
                f"  note: {pair.name}: lorascope scaled {chosen.get(pair.name, ())}, reference {ref_chosen}"
            )
        mine = W0 + written.update(written_modules[pair.tuned_name]).dense(torch.float64)
        layer = peft_layers[pair.tuned_name]
        B = layer.lora_B["intruder_reduced"].weight.detach().to(torch.float64)
        A = layer.lora_A["intruder_reduced"].weight.detach().to(torch.float64)
        theirs = W0 + layer.scaling["intruder_reduced"] * (B @ A)
        for i, value in enumerate((*_errors(mine, exact, change), *_errors(theirs, exact, change))):
            worst[i] = max(worst[i], value)
    return Row(
        name, len(plan.pairs), intruded, times[0], times[1], peft_s, worst[0], worst[2], worst[1], worst[3]
    )


def minilm_case(work: Path, args) -> tuple[Path, object, Path] | None:
    """all-MiniLM-L6-v2 (BERT, 384 wide) with a random-factor LoRA on every linear layer."""
    from transformers import BertModel

    try:
        from lorascope.resources import minilm_dir

        base_dir = minilm_dir()
    except Exception as err:  # the data package is optional
        print(f"skipping MiniLM: {err}")
        return None
    model = BertModel.from_pretrained(base_dir).eval()
    adapter_dir = work / "minilm-adapter"
    _save_adapter(model, r".*encoder.*\.(query|key|value|dense)", 8, adapter_dir, scale=0.06)
    return base_dir, model, adapter_dir


def synthetic_case(work: Path, args) -> tuple[Path, object, Path]:
    """`count` square width-wide nn.Linear layers with pretrained-like spectra and a rank-16 LoRA."""
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(0)
    model = Stack(args.width, args.matrices)
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.copy_(_synthetic_weight(args.width, generator))
    base_dir = work / "synthetic-base"
    base_dir.mkdir()
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        base_dir / "model.safetensors",
        metadata={"format": "pt"},
    )
    adapter_dir = work / "synthetic-adapter"
    _save_adapter(model, r"layers\.\d+", 16, adapter_dir, scale=0.045)
    return base_dir, model, adapter_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one synthetic matrix instead of four")
    parser.add_argument("--lambda", dest="lam", type=float, default=0.5, help="λ (default 0.5)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--epsilon", type=float, default=0.5)
    parser.add_argument("--width", type=int, default=4096, help="synthetic matrix width")
    parser.add_argument("--matrices", type=int, default=None, help="synthetic matrices (default 4, quick 1)")
    parser.add_argument("--skip-minilm", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    if args.matrices is None:
        args.matrices = 1 if args.quick else 4
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        work = Path(tmp)
        cases = []
        if not args.skip_minilm:
            found = minilm_case(work, args)
            if found:
                cases.append(("minilm-l6 (384)", *found))
        if not args.skip_synthetic:
            cases.append((f"synthetic {args.matrices}x{args.width}", *synthetic_case(work, args)))
        for name, base_dir, model, adapter_dir in cases:
            print(f"running {name} …", flush=True)
            rows.append(run_case(name.split()[0], base_dir, model, adapter_dir, work, args))
    print(f"\nλ = {args.lam}, k = {args.k}, ε = {args.epsilon}, torch threads = {torch.get_num_threads()}")
    print("errors: max over matrices of ‖W − W_exact‖_F / ‖W_exact‖_F  (and / ‖change‖_F)")
    print(
        "lorascope: whole run (read, analyse, write); cold = empty base index, warm = filled by the cold run"
    )
    print("PEFT: the reduce_intruder_dimension call alone, model already loaded")
    header = (
        f"{'case':<10} {'mats':>4} {'intr':>4} {'cold s':>7} {'warm s':>7} {'PEFT s':>7} {'x cold':>6} "
        f"{'x warm':>6} {'lorascope err':>17} {'PEFT err':>17}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        cold, warm = r.peft_s / max(r.lorascope_s, 1e-9), r.peft_s / max(r.warm_s, 1e-9)
        print(
            f"{r.case:<10} {r.modules:>4} {r.intruded:>4} {r.lorascope_s:>7.1f} {r.warm_s:>7.1f} {r.peft_s:>7.1f} "
            f"{cold:>5.1f}x {warm:>5.1f}x {r.lorascope_err:>8.1e} ({r.lorascope_corr_err:.0e}) "
            f"{r.peft_err:>8.1e} ({r.peft_corr_err:.0e})"
        )


if __name__ == "__main__":
    main()
