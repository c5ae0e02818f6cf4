"""Small real model folders for the index tests: safetensors checkpoints, PEFT adapter files, chosen spectra.

Matrices are big enough (p ≥ 41) for the structured top-k paths, small enough for fast tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

F64 = torch.float64
PREFIX = "model.layers.{i}.{module}.weight"
MODULES = ("self_attn.q_proj", "mlp.up_proj", "mlp.down_proj")


def orthonormal(rows: int, cols: int, g: torch.Generator) -> torch.Tensor:
    return torch.linalg.qr(torch.randn(rows, cols, generator=g, dtype=F64))[0]


def with_spectrum(m: int, n: int, s: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """U diag(s) Vᵀ (float64) with random orthonormal U, V."""
    p = min(m, n)
    return orthonormal(m, p, g) @ torch.diag(s.to(F64)) @ orthonormal(n, p, g).T


def decaying(p: int, ratio: float = 0.97) -> torch.Tensor:
    return ratio ** torch.arange(p, dtype=F64)


@dataclass(frozen=True)
class SmallModel:
    base: Path
    adapter: Path
    full: Path
    names: list[str]
    base_tensors: dict[str, torch.Tensor]


def write_checkpoint(folder: Path, tensors: dict[str, torch.Tensor], model_type: str = "llama") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "model.safetensors"),
              metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    return folder


def write_adapter(folder: Path, factors: dict[str, tuple[torch.Tensor, torch.Tensor]], r: int, alpha: float) -> Path:
    """PEFT adapter files for linear modules: factors maps 'model.layers.0.self_attn.q_proj' -> (B, A)."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for module, (B, A) in factors.items():
        tensors[f"base_model.model.{module}.lora_A.weight"] = A.float().contiguous()
        tensors[f"base_model.model.{module}.lora_B.weight"] = B.float().contiguous()
    save_file(tensors, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
    targets = sorted({m.rsplit(".", 1)[-1] for m in factors})
    (folder / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": r, "lora_alpha": alpha, "target_modules": targets, "lora_dropout": 0.0,
         "bias": "none", "fan_in_fan_out": False}))
    return folder


def small_model(root: Path, shapes=((300, 400), (400, 300)), *, layers: int = 1, r: int = 4, seed: int = 0,
                dtype=torch.float32) -> SmallModel:
    """A base of `layers` × len(shapes) matrices, a LoRA adapter planting intruders, a dense full fine-tune."""
    g = torch.Generator().manual_seed(seed)
    base, full, factors, names = {}, {}, {}, []
    for i in range(layers):
        for (m, n), module in zip(shapes, MODULES, strict=False):
            name = PREFIX.format(i=i, module=module)
            W0 = with_spectrum(m, n, 3 * decaying(min(m, n)), g)
            base[name] = W0.to(dtype)
            full[name] = (W0 + 0.01 * torch.randn(m, n, generator=g, dtype=F64) / (m**0.5 + n**0.5)).to(dtype)
            strength = torch.tensor([6.0, 4.0] + [0.3] * (r - 2), dtype=F64).sqrt()
            B = orthonormal(m, r, g) * strength
            A = (orthonormal(n, r, g) * strength).T
            factors[name.removesuffix(".weight")] = (B, A)
            names.append(name)
    write_checkpoint(root / "base", base)
    write_checkpoint(root / "full", full)
    write_adapter(root / "adapter", factors, r=r, alpha=r)
    return SmallModel(root / "base", root / "adapter", root / "full", names,
                      {k: v.float() for k, v in base.items()})


def scan_json(result) -> dict:
    """A scan's JSON without the wall time, for field-by-field comparison."""
    data = result.to_json()
    data.pop("seconds")
    return data


def entry_dirs(cache: Path) -> list[Path]:
    """Finished entry folders of the index under cache dir `cache`."""
    from lorascope.index import index_layout

    return index_layout(cache).entries()


def assert_json_close(a, b, rel: float = 1e-6, where: str = "") -> None:
    """Equal JSON, except floats that may differ by `rel` (relative) or `rel` (absolute, near zero)."""
    if isinstance(a, float) or isinstance(b, float):
        assert abs(a - b) <= rel * max(1.0, abs(a), abs(b)), f"{where}: {a} != {b}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_json_close(a[k], b[k], rel, f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_json_close(x, y, rel, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
