"""Write a PEFT LoRA adapter that equals an existing one plus exact changes to some modules' ΔW.

A rank-1 change w·u vᵀ (analysed orientation, see LoraModule) is appended as one more rank: the module's
factors gain a column/row and its rank and alpha get an entry in `rank_pattern` / `alpha_pattern`, keyed
`^` + the escaped module path so that it matches that module alone and, being first in dict order, wins over
any pattern already there (PEFT's get_pattern_key takes the first key that matches). The new alpha keeps
the module's scale s = alpha/r (alpha/√r with rsLoRA), so the old factors stay bit-identical, and the new
rank's factors split |w|/s evenly: B gets sign(w)·√(|w|/s)·u, A gets √(|w|/s)·vᵀ. No re-projection: the
merged weight is W0 + ΔW + Σ w·u vᵀ up to float rounding.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from lorascope.errors import InputError
from lorascope.weights.adapter import LoraAdapter, LoraModule
from lorascope.weights.matrix_change import MatrixChange, as_stored
from lorascope.weights.safetensors_file import read_header
from lorascope.weights.write_dir import copy_small_files
from lorascope.weights.write_safetensors import StoredTensor, write_safetensors

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"


@dataclass(frozen=True)
class FactorEdit:
    """New stored tensors for one module (PEFT layout), and its new rank and alpha when they change."""

    module: LoraModule
    a: torch.Tensor  # lora_A.weight (r, in) or lora_embedding_A (r, num_embeddings)
    b: torch.Tensor  # lora_B.weight (out, r) or lora_embedding_B (dim, r)
    bias: torch.Tensor | None = None  # lora_B.bias
    rank: int | None = None
    alpha: float | None = None


def pattern_for(module: str) -> str:
    """A rank_pattern / alpha_pattern key that matches exactly the module at this path."""
    return "^" + re.escape(module)


def _work_dtype(stored: torch.dtype) -> torch.dtype:
    """Changed factors are written in float32 when stored in half precision, so the added rank is exact."""
    return torch.float32 if stored in (torch.float16, torch.bfloat16) else stored


def appended_rank(
    adapter: LoraAdapter,
    module: LoraModule,
    left: torch.Tensor,
    right: torch.Tensor,
    weights: Sequence[float],
) -> FactorEdit:
    """The module's factors with ΔW + Σ_j weights[j]·left[:, j]·right[:, j]ᵀ as t = len(weights) more ranks.

    left (m, t) and right (n, t) are in the analysed orientation of `module` (m, n = module.shape).
    """
    t = len(weights)
    m, n = module.shape
    if tuple(left.shape) != (m, t) or tuple(right.shape) != (n, t):
        raise ValueError(
            f"{module.module}: vectors {tuple(left.shape)}, {tuple(right.shape)} for shape {(m, n)}"
        )
    settings = adapter.settings
    a = adapter.store.get(module.a_key)
    b = adapter.store.get(module.b_key)
    dtype = _work_dtype(a.dtype)
    rank = module.rank + t
    s = module.scale
    alpha = s * math.sqrt(rank) if settings.use_rslora else s * rank
    s_new = alpha / math.sqrt(rank) if settings.use_rslora else alpha / rank  # as PEFT computes it
    coef = torch.tensor([float(w) / s_new for w in weights], dtype=torch.float64)
    root = coef.abs().sqrt()
    cols = left.to(torch.float64) * (torch.sign(coef) * root)  # (m, t): new columns of analysed B
    rows = (right.to(torch.float64) * root).T  # (t, n): new rows of analysed A
    if module.kind == "embedding":  # stored A is analysed Bᵀ, stored B is analysed Aᵀ
        new_a = torch.cat([a.to(dtype), cols.T.to(dtype)], dim=0)
        new_b = torch.cat([b.to(dtype), rows.T.to(dtype)], dim=1)
    else:
        new_a = torch.cat([a.to(dtype), rows.to(dtype)], dim=0)
        new_b = torch.cat([b.to(dtype), cols.to(dtype)], dim=1)
    return FactorEdit(module, new_a, new_b, None, rank, alpha)


def scaled_update(adapter: LoraAdapter, module: LoraModule, factor: float) -> FactorEdit:
    """The module's factors with ΔW (and a lora_B.bias change) multiplied by `factor`, through B alone."""
    a = adapter.store.get(module.a_key)
    b = adapter.store.get(module.b_key)
    dtype = _work_dtype(b.dtype)
    bias = None
    if module.bias_key is not None:
        raw = adapter.store.get(module.bias_key)
        bias = (raw.to(_work_dtype(raw.dtype)) * factor).to(_work_dtype(raw.dtype))
    return FactorEdit(module, a, (b.to(dtype) * factor).to(dtype), bias)


def _new_config(raw: dict, edits: Sequence[FactorEdit]) -> dict:
    config = json.loads(json.dumps(raw))
    ranked = [e for e in edits if e.rank is not None]
    for field, attr in (("rank_pattern", "rank"), ("alpha_pattern", "alpha")):
        ours = {pattern_for(e.module.module): getattr(e, attr) for e in ranked}
        old = config.get(field) or {}
        config[field] = {**ours, **{k: v for k, v in old.items() if k not in ours}}
    return config


def write_adapter(
    adapter: LoraAdapter,
    dest: Path,
    edits: Sequence[FactorEdit],
    new_tensors: Mapping[str, torch.Tensor] | None = None,
) -> list[str]:
    """Write `adapter` into the folder `dest` with `edits` and whole-tensor `new_tensors` applied; file names.

    Everything else (other tensors, metadata, README, tokenizer files) is copied unchanged; with no edits the
    config is a byte copy too.
    """
    source = adapter.store.root
    if source.suffix != ".safetensors":
        raise InputError(
            f"{source}: scale writes adapter_model.safetensors only; convert this pickled adapter"
        )
    changed: dict[str, torch.Tensor] = dict(new_tensors or {})
    for edit in edits:
        changed[edit.module.a_key] = edit.a
        changed[edit.module.b_key] = edit.b
        if edit.bias is not None and edit.module.bias_key is not None:
            changed[edit.module.bias_key] = edit.bias
    unknown = [key for key in changed if key not in adapter.store]
    if unknown:
        raise ValueError(f"{source}: no tensor {unknown[0]!r} to replace")
    config_path = adapter.path / CONFIG
    if any(e.rank is not None for e in edits):
        text = json.dumps(_new_config(adapter.settings.raw, edits), indent=2) + "\n"
        (dest / CONFIG).write_text(text, encoding="utf-8")
    else:
        shutil.copyfile(config_path, dest / CONFIG)
    if changed:
        header = read_header(source)
        order = sorted(header.entries.values(), key=lambda e: e.begin)
        items = {e.name: changed.get(e.name, StoredTensor(source, e.name)) for e in order}
        write_safetensors(dest / WEIGHTS, items, header.metadata)
    else:
        shutil.copyfile(source, dest / WEIGHTS)
    others = copy_small_files(adapter.path, dest, skip=(CONFIG, WEIGHTS))
    return [CONFIG, WEIGHTS, *others]


def write_adapter_changes(adapter: LoraAdapter, dest: Path, changes: Sequence[MatrixChange]) -> list[str]:
    """Write `adapter` into `dest` with each change applied; the file names (see write_adapter).

    A LoRA module's rank-1 change becomes appended rank, its scaled update scaled B (and bias), plus its own
    copy of a base table (saved embeddings) moved by the same factor; a matrix the adapter replaces whole
    (modules_to_save) gets its new value, stored in its orientation and dtype.
    """
    modules = {m.module: m for m in adapter.modules}
    edits: list[FactorEdit] = []
    new_tensors: dict[str, torch.Tensor] = {}
    for change in changes:
        pair = change.pair
        if pair.source == "replaced":
            dtype = adapter.store.info(pair.tuned_name).dtype
            new_tensors[pair.tuned_name] = as_stored(change.value(), pair.transposed, dtype)
            continue
        module = modules[pair.tuned_name]
        if change.update_factor is None:
            edits.append(appended_rank(adapter, module, change.U, change.V, change.weights))
            continue
        edits.append(scaled_update(adapter, module, change.update_factor))
        if module.saved_base_key is not None:  # the adapter carries its own copy of this table
            saved = adapter.store.get(module.saved_base_key)
            flip = tuple(saved.shape) != module.shape
            start = (saved.T if flip else saved).to(torch.float64)
            W0 = pair.load()[0].to(torch.float64)
            if not torch.equal(start, W0):
                new_tensors[module.saved_base_key] = as_stored(
                    W0 + change.update_factor * (start - W0), flip, saved.dtype)
    return write_adapter(adapter, dest, edits, new_tensors)
