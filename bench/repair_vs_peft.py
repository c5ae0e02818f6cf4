"""Benchmark: how exactly PEFT's `reduce_intruder_dimension` and lorascope's adapter writer apply the same repair.

Both scale every intruder among the top k of W_tuned = W0 + ΔW (ε = 0.5, k = 10) to λ·σ (PEFT's default
λ = 0.75; lorascope `scale --target all-intruders`). The intended result per matrix is the float64 formula
W* = W_tuned + (λ − 1)·Σ_j σ_j u_j v_jᵀ. PEFT refits ΔW* = W* − W0 by an SVD truncated to the adapter's rank
r; lorascope appends the change as extra rank. For each changed matrix this prints the error of the matrix
PEFT merges from each adapter, ‖W − W*‖_F, relative to the intended change ‖W* − W_tuned‖_F, and (with
--data) task quality and forgetting of both adapters, measured as `repair` measures them.

    python bench/repair_vs_peft.py                  # a tiny LLaMA and a LoRA trained on toy text (~30 s)
    python bench/repair_vs_peft.py BASE ADAPTER --data VAL.jsonl [--forget-text F.txt]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import warnings
from pathlib import Path

import torch

LAMBDA = 0.75


def _tiny(root: Path) -> tuple[Path, Path, Path, Path]:
    """The tests' tiny LLaMA and a LoRA trained hard on toy text (tests/fixtures), with its data files."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from fixtures.trained_lora import train_lm_lora
    from training import toys

    rng = random.Random(0)
    task = [" ".join(rng.choice(["abc", "abd", "bca"]) for _ in range(8)) for _ in range(32)]
    forget = ["".join(rng.choice("xyz 0123456789") for _ in range(60)) for _ in range(12)]
    base = toys.tiny_llama_dir(root / "base")
    adapter = train_lm_lora(base, root / "lora", task)
    (root / "val.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in task[:16]))
    (root / "forget.txt").write_text("\n".join(forget) + "\n")
    return base, adapter, root / "val.jsonl", root / "forget.txt"


def _merged(base: Path, adapter: Path) -> dict[str, torch.Tensor]:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return {k: v.detach().double() for k, v in merged.state_dict().items()}


def _peft_reduced(base: Path, adapter: Path, out: Path) -> Path:
    """PEFT's own reduce_intruder_dimension at λ, saved as an adapter folder."""
    from peft import PeftModel
    from peft.tuners.lora.intruders import reduce_intruder_dimension
    from transformers import AutoModelForCausalLM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), adapter)
        reduce_intruder_dimension(model, mitigation_lambda=LAMBDA, logging_sink=None)
        model.save_pretrained(out, selected_adapters=["intruder_reduced"])
    return out / "intruder_reduced"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="BASE ADAPTER (default: build the tiny case)")
    parser.add_argument("--data", type=Path, help="validation data for quality (with BASE ADAPTER)")
    parser.add_argument("--forget-text", type=Path, help="forget text (default: the bundled news text)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    from lorascope.pipelines.repair import RepairOptions
    from lorascope.pipelines.repair_measure import RepairBench
    from lorascope.pipelines.scale import scale

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.paths:
            base, adapter = (Path(p) for p in args.paths)
            data, forget = args.data, args.forget_text
        else:
            base, adapter, data, forget = _tiny(root)
        result = scale(base, adapter, root / "lorascope", LAMBDA, target="all-intruders", cache=False)
        peft_dir = _peft_reduced(base, adapter, root / "peft")
        tuned, ours, theirs = _merged(base, adapter), _merged(base, root / "lorascope"), _merged(base, peft_dir)
        rows = []
        for sm in result.matrices:
            Wt = tuned[sm.name]
            want = Wt + sm.change(LAMBDA)  # analysed orientation = stored for LLaMA's nn.Linear
            norm = float(torch.linalg.matrix_norm(want - Wt))
            rows.append((sm.name, len(sm.indices), float(torch.linalg.matrix_norm(ours[sm.name] - want)) / norm,
                         float(torch.linalg.matrix_norm(theirs[sm.name] - want)) / norm))
        print(f"{len(rows)} matrices with intruders (all-intruders, λ = {LAMBDA}); error relative to the change:")
        print(f"{'matrix':44s} {'#intr':>5s} {'lorascope':>10s} {'PEFT rank-r':>12s}")
        for name, n, a, b in rows:
            print(f"{name.removesuffix('.weight'):44s} {n:5d} {a:10.2e} {b:12.2e}")
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        print(f"median {'':38s} {med([r[2] for r in rows]):10.2e} {med([r[3] for r in rows]):12.2e}")
        print(f"max    {'':38s} {max(r[2] for r in rows):10.2e} {max(r[3] for r in rows):12.2e}")
        if data is not None:
            settings = RepairOptions().text_settings()
            for label, folder in (("adapter as given", adapter), ("lorascope exact", root / "lorascope"),
                                  ("PEFT rank-r refit", peft_dir)):
                m = RepairBench(Path(base), Path(folder), Path(data), forget, settings).measure()
                print(f"{label:18s} quality {m.quality:.4f}  forgetting {m.forgetting:+.5f}")


if __name__ == "__main__":
    main()
