"""Write BASE + a LoRA adapter merged into one full checkpoint, in BASE's layout and dtypes, with changes applied.

Every adapted matrix becomes W0 + ΔW (its change applied where there is one), lora_B biases are added to
BASE's biases, tensors the adapter replaces whole are copied in, and every other BASE tensor stays a byte copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from lorascope.errors import InputError
from lorascope.weights.adapter import LoraAdapter
from lorascope.weights.matrix_change import MatrixChange, as_stored
from lorascope.weights.name_map import find_prefix_map
from lorascope.weights.pairing import MatrixPair, plan_pairs
from lorascope.weights.store import TensorStore
from lorascope.weights.write_checkpoint import write_checkpoint


@dataclass(frozen=True)
class MergePlan:
    """Everything a merged checkpoint of BASE + adapter needs: every adapted matrix, biases, whole tensors."""

    pairs: list[MatrixPair]
    biases: dict[str, tuple[str, float]]  # BASE bias name -> (lora_B.bias key, scale)
    tensors: dict[str, str]  # BASE name -> adapter key of a non-matrix tensor that replaces it


def merge_plan(base_path: Path, tuned_path: Path, adapter: LoraAdapter, base: TensorStore, *,
               allow_pickle: bool = False) -> MergePlan:
    """Pair every module of the adapter (not only the analysed ones) and check that all of it can be merged."""
    full = plan_pairs(base_path, tuned_path, include=(".*",), allow_pickle=allow_pickle)
    for name, reason in ((s.name, s.reason) for s in full.skipped):
        if "trainable_token" in reason or "conv layer" in reason:
            raise InputError(f"{tuned_path}: cannot write a merged checkpoint: {name}: {reason}")
    keys = set(base.keys())
    mapper = find_prefix_map(
        keys, [m.module + ".weight" for m in adapter.modules] + [r.name for r in adapter.replaced]
    )
    biases: dict[str, tuple[str, float]] = {}
    for module in adapter.modules:
        if module.bias_key is None:
            continue
        name = mapper(module.module + ".bias", keys)
        if name is None:
            raise InputError(
                f"{tuned_path}: {module.bias_key!r} adds a bias that BASE lacks ({mapper.guess(module.module)}.bias); "
                "a merged checkpoint cannot hold it"
            )
        biases[name] = (module.bias_key, module.scale)
    matrices = {p.tuned_name for p in full.pairs if p.source == "replaced"}
    tensors: dict[str, str] = {}
    for item in adapter.replaced:
        if item.key in matrices:
            continue
        name = mapper(item.name, keys)
        if name is None or base.shape(name) != adapter.store.shape(item.key):
            raise InputError(
                f"{tuned_path}: {item.key!r} replaces a tensor that BASE lacks or stores otherwise"
            )
        tensors[name] = item.key
    return MergePlan(full.pairs, biases, tensors)


def write_merged(base: TensorStore, adapter: LoraAdapter, merge: MergePlan, dest: Path,
                 changes: Sequence[MatrixChange]) -> list[str]:
    """Write the merged checkpoint into `dest`; the file names. A bias of a module whose update is scaled by
    f (MatrixChange.update_factor) is scaled by f too."""
    by_name = {c.pair.name: c for c in changes}
    values: dict[str, Callable[[], torch.Tensor]] = {}
    for pair in merge.pairs:
        change = replace(by_name[pair.name], pair=pair) if pair.name in by_name else MatrixChange(pair)
        values[pair.name] = lambda c=change, d=base.info(pair.name).dtype: as_stored(c.value(), c.pair.transposed, d)
    for name, (key, s) in merge.biases.items():
        factor = s * next((c.update_factor for c in changes if c.update_factor is not None
                           and c.pair.source != "replaced" and name == c.pair.name.removesuffix(".weight") + ".bias"),
                          1.0)
        values[name] = lambda n=name, k=key, f=factor, d=base.dtype(name): (
            base.get(n).to(torch.float64) + f * adapter.store.get(k).to(torch.float64)
        ).to(d)
    for name, key in merge.tensors.items():
        values[name] = lambda k=key, d=base.dtype(name): adapter.store.get(k).to(d)
    return write_checkpoint(base, dest, values)
