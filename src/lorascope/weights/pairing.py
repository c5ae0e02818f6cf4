"""Match BASE and TUNED weight matrices into a lazy plan: what the scan analyses, and what it leaves out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from lorascope.errors import InputError
from lorascope.finite import all_finite
from lorascope.spectral.update import LowRankUpdate
from lorascope.weights.adapter import LoraAdapter, LoraModule, read_adapter
from lorascope.weights.checkpoint import existing_path, is_adapter_dir, open_checkpoint
from lorascope.weights.conv1d import is_conv1d_module, model_type, stored_transposed
from lorascope.weights.dora import dora_merged
from lorascope.weights.name_map import PrefixMap, find_prefix_map
from lorascope.weights.names import is_matrix, normalize_tuned_name, not_a_matrix_reason
from lorascope.weights.selection import Selection
from lorascope.weights.skipped import Skipped
from lorascope.weights.store import TensorStore
from lorascope.weights.suspicious import adapter_warnings

__all__ = ["MatrixPair", "Plan", "Skipped", "plan_pairs"]

Loaded = tuple[torch.Tensor, "torch.Tensor | LowRankUpdate"]
_SHOWN = 5  # offending names quoted in one error message


@dataclass(frozen=True)
class MatrixPair:
    """One matrix to analyse; nothing is read until `load`."""

    name: str  # the tensor's name in BASE, e.g. "model.layers.0.self_attn.q_proj.weight"
    shape: tuple[int, int]  # (out, in) orientation (embedding tables: (num_embeddings, dim))
    loader: Callable[[], Loaded] = field(repr=False, compare=False)
    source: Literal["checkpoint", "lora", "dora", "replaced"] = "checkpoint"
    tuned_name: str = ""  # the tensor or module in TUNED that it was matched with
    transposed: bool = False  # BASE stores it (in, out) (Conv1D, fan_in_fan_out); so does a dense TUNED tensor

    def load(self) -> tuple[torch.Tensor, torch.Tensor | LowRankUpdate]:
        """W0 (out, in) float32 and the tuned matrix: dense W_tuned (out, in) float32 or a LowRankUpdate."""
        return self.loader()


@dataclass(frozen=True)
class Plan:
    """Every matrix pair to analyse, every matrix left out (with why), and warnings for the report."""

    base: str
    tuned: str
    tuned_kind: Literal["adapter", "checkpoint"]
    pairs: list[MatrixPair]
    skipped: list[Skipped]
    warnings: list[str]


def _oriented(tensor: torch.Tensor, transposed: bool) -> torch.Tensor:
    tensor = tensor.to(torch.float32)
    return tensor.T.contiguous() if transposed else tensor


def _dense_loader(
    base: TensorStore, base_key: str, tuned: TensorStore, tuned_key: str, transposed: bool
) -> Callable[[], Loaded]:
    def load() -> Loaded:
        return _oriented(base.get(base_key), transposed), _oriented(tuned.get(tuned_key), transposed)

    return load


def _lora_loader(
    base: TensorStore, base_key: str, adapter: LoraAdapter, module: LoraModule, transposed: bool
) -> Callable[[], Loaded]:
    def load() -> Loaded:
        w0 = _oriented(base.get(base_key), transposed)
        update = adapter.update(module)
        start = w0
        if module.saved_base_key is not None:
            saved = adapter.store.get(module.saved_base_key)
            saved = _oriented(saved, tuple(saved.shape) != module.shape)
            if not torch.equal(saved, w0):
                start = saved  # the adapter carries its own copy of this table (e.g. a resized vocabulary)
        if module.magnitude_key is not None:
            merged = dora_merged(start, update, adapter.magnitude(module), module.kind)
            if not all_finite(merged):
                raise InputError(
                    f"{adapter.path}: DoRA merge of {module.module!r} gives NaN/Inf (a zero-norm row?)"
                )
            return w0, merged
        if start is not w0:
            return w0, start + update.dense(torch.float64).to(torch.float32)
        return w0, update

    return load


def _problem_error(base: Path, tuned: Path, problems: list[Skipped]) -> InputError:
    shown = "; ".join(f"{p.name}: {p.reason}" for p in problems[:_SHOWN])
    more = f"; and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
    return InputError(
        f"BASE {base} and TUNED {tuned} do not pair up ({len(problems)} matrices): {shown}{more}. "
        "Pass allow_missing (--allow-missing) to skip them and analyse the rest"
    )


def _finish(
    base: Path,
    tuned: Path,
    kind: Literal["adapter", "checkpoint"],
    pairs: list[MatrixPair],
    skipped: list[Skipped],
    problems: list[Skipped],
    warnings: list[str],
    allow_missing: bool,
) -> Plan:
    if problems and not allow_missing:
        raise _problem_error(base, tuned, problems)
    skipped = skipped + problems
    if not pairs:
        warnings = [*warnings, f"no matrix of TUNED {tuned} pairs with BASE {base}: nothing to analyse"]
    return Plan(str(base), str(tuned), kind, pairs, skipped, warnings)


def _conv1d_warning(store: TensorStore, names: Sequence[str]) -> list[str]:
    if model_type(store.config) is None and any(is_conv1d_module(n.removesuffix(".weight")) for n in names):
        return [
            f"{store.root}: no config.json with a model_type, so GPT-2-style Conv1D weights (c_attn, c_fc, "
            "c_proj) cannot be recognised; they are analysed as stored, possibly as (in, out)"
        ]
    return []


def _dtype_warning(base: TensorStore, tuned: TensorStore, pairs: Sequence[MatrixPair]) -> list[str]:
    """Pairs stored in different precisions: ΔW then also holds the rounding between them; say so."""
    mixed = [(p.name, base.info(p.name).dtype, tuned.info(p.tuned_name).dtype) for p in pairs
             if base.info(p.name).dtype != tuned.info(p.tuned_name).dtype]
    if not mixed:
        return []
    name, a, b = mixed[0]
    return [f"{len(mixed)} matrices differ in dtype between BASE and TUNED (e.g. {name!r}: {a} vs {b}); "
            "ΔW includes the rounding between the two precisions, which inflates its ranks"]


def _plan_checkpoint(
    base_path: Path,
    tuned_path: Path,
    base: TensorStore,
    tuned: TensorStore,
    selection: Selection,
    allow_missing: bool,
) -> Plan:
    lora_keys = [k for k in tuned if ".lora_A." in k or ".lora_embedding_A" in k]
    if lora_keys:
        raise InputError(
            f"TUNED {tuned.root}: holds unmerged LoRA tensors (e.g. {lora_keys[0]!r}); save the model after "
            "merge_and_unload(), or pass the adapter folder"
        )
    config = base.config if model_type(base.config) else tuned.config
    skipped: list[Skipped] = []
    problems: list[Skipped] = []
    base_mats = {k: base.info(k) for k in base if is_matrix(base.info(k))}
    for key in base:
        reason = not_a_matrix_reason(base.info(key))
        if reason:
            skipped.append(Skipped(key, reason))
    tuned_mats: dict[str, str] = {}
    for key in tuned:
        if is_matrix(tuned.info(key)):
            name = normalize_tuned_name(key)
            if name in tuned_mats:
                raise InputError(
                    f"TUNED {tuned.root}: {tuned_mats[name]!r} and {key!r} both stand for {name!r}"
                )
            tuned_mats[name] = key
    mapper = find_prefix_map(base_mats.keys(), tuned_mats.keys())
    base_to_tuned: dict[str, str] = {}
    only_tuned: list[str] = []
    for name, key in tuned_mats.items():
        target = mapper(name, base_mats)
        if target is None or target in base_to_tuned:
            only_tuned.append(name)
        else:
            base_to_tuned[target] = key

    pairs: list[MatrixPair] = []
    for name, info in base_mats.items():
        tkey = base_to_tuned.get(name)
        reason = selection.skip_reason(name)
        if reason:
            skipped.append(Skipped(name, reason if tkey else f"{reason}; absent in TUNED"))
            continue
        if tkey is None:
            problems.append(Skipped(name, "absent in TUNED"))
            continue
        if tuned.shape(tkey) != info.shape:
            problems.append(
                Skipped(name, f"shape {info.shape} in BASE but {tuned.shape(tkey)} in TUNED ({tkey})")
            )
            continue
        transposed = stored_transposed(name, config)
        shape = (info.shape[1], info.shape[0]) if transposed else info.shape
        pairs.append(MatrixPair(name, shape, _dense_loader(base, name, tuned, tkey, transposed), "checkpoint",
                                tkey, transposed))
    for name in only_tuned:
        guess = mapper.guess(name)
        reason = selection.skip_reason(guess)
        if reason:
            skipped.append(Skipped(guess, f"only in TUNED ({tuned_mats[name]}); {reason}"))
        else:
            problems.append(Skipped(guess, f"only in TUNED ({tuned_mats[name]}); absent in BASE"))
    warnings = [] if model_type(config) else _conv1d_warning(base, list(base_mats))
    if mapper.strip or mapper.add:
        warnings.append(mapper.describe())
    warnings += _dtype_warning(base, tuned, pairs)
    return _finish(base_path, tuned_path, "checkpoint", pairs, skipped, problems, warnings, allow_missing)


def _linear_transposed(base: TensorStore, name: str, adapter: LoraAdapter, module: LoraModule) -> bool:
    """Whether the BASE weight under a LoRA linear module is stored (in, out), as PEFT would decide it."""
    if model_type(base.config):
        return stored_transposed(name, base.config)  # PEFT follows the layer type, not the config flag
    stored, delta = base.shape(name), module.shape
    if stored == delta and (delta[0] != delta[1] or not adapter.settings.fan_in_fan_out):
        return False
    if stored == delta[::-1] and delta[0] != delta[1]:
        return True
    return adapter.settings.fan_in_fan_out


def _plan_adapter(
    base_path: Path,
    tuned_path: Path,
    base: TensorStore,
    adapter: LoraAdapter,
    selection: Selection,
    allow_missing: bool,
) -> Plan:
    skipped: list[Skipped] = []
    problems: list[Skipped] = []
    pairs: list[MatrixPair] = []
    names = [m.module + ".weight" for m in adapter.modules] + [r.name for r in adapter.replaced]
    mapper: PrefixMap = find_prefix_map(set(base.keys()), names)
    base_keys = set(base.keys())

    for module in adapter.modules:
        adapted = module.module + ".weight"
        name = mapper(adapted, base_keys)
        shown = name or mapper.guess(adapted)
        reason = selection.skip_reason(shown, adapted=True)
        if reason:
            skipped.append(Skipped(shown, f"adapted by LoRA, but {reason}"))
            continue
        if name is None:
            problems.append(
                Skipped(shown, f"adapter module {module.module!r} ({module.a_key}) has no weight in BASE")
            )
            continue
        transposed = module.kind == "linear" and _linear_transposed(base, name, adapter, module)
        expected = module.shape[::-1] if transposed else module.shape
        if base.shape(name) != expected:
            problems.append(
                Skipped(
                    shown,
                    f"{module.a_key} {adapter.store.shape(module.a_key)} and {module.b_key} "
                    f"{adapter.store.shape(module.b_key)} make a {module.shape} update, but BASE stores "
                    f"{base.shape(name)} (an adapter for a different base?)",
                )
            )
            continue
        source = "dora" if module.magnitude_key else "lora"
        loader = _lora_loader(base, name, adapter, module, transposed)
        pairs.append(MatrixPair(name, module.shape, loader, source, module.module, transposed))

    for replaced in adapter.replaced:
        name = mapper(replaced.name, base_keys)
        shown = name or mapper.guess(replaced.name)
        info = adapter.store.info(replaced.key)
        if not is_matrix(info):
            skipped.append(
                Skipped(shown, f"replaced whole by the adapter ({replaced.key}); not a 2-D weight matrix")
            )
            continue
        reason = selection.skip_reason(shown, adapted=True)
        if reason:
            skipped.append(Skipped(shown, f"replaced whole by the adapter (modules_to_save), but {reason}"))
            continue
        if name is None:
            problems.append(Skipped(shown, f"the adapter replaces {replaced.key!r}, which BASE lacks"))
            continue
        if base.shape(name) != info.shape:
            problems.append(
                Skipped(
                    shown,
                    f"shape {base.shape(name)} in BASE but {info.shape} in the adapter ({replaced.key})",
                )
            )
            continue
        transposed = stored_transposed(name, base.config)
        shape = (info.shape[1], info.shape[0]) if transposed else info.shape
        loader = _dense_loader(base, name, adapter.store, replaced.key, transposed)
        pairs.append(MatrixPair(name, shape, loader, "replaced", replaced.key, transposed))

    for note_name, reason in adapter.notes:
        skipped.append(Skipped(mapper(note_name, base_keys) or mapper.guess(note_name), reason))
    warnings = list(adapter.warnings)
    analysed = {p.tuned_name: p.name for p in pairs if p.source in ("lora", "dora")}
    warnings += adapter_warnings(adapter, base_path, base, analysed)
    if not model_type(base.config):
        warnings += _conv1d_warning(base, [m.module for m in adapter.modules])
    if mapper.strip or mapper.add:
        warnings.append(mapper.describe())
    return _finish(base_path, tuned_path, "adapter", pairs, skipped, problems, warnings, allow_missing)


def plan_pairs(
    base: str | Path | TensorStore,
    tuned: str | Path | TensorStore | LoraAdapter,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    allow_missing: bool = False,
    allow_pickle: bool = False,
) -> Plan:
    """Pair BASE and TUNED (a checkpoint or a PEFT LoRA adapter) matrix by matrix, reading only headers now.

    Names match after removing PEFT wrappers (`base_model.model.`, `.base_layer.`, adapter names) and a task
    model's backbone prefix. A matrix that does not pair, or pairs with another shape, is an InputError, or
    with allow_missing a Skipped entry. See Selection for which matrices are analysed. A store or adapter
    already open (weights in memory: lorascope.weights.in_memory) is planned like the files it stands for.
    """
    selection = Selection.build(include, exclude)
    base_path = base.root if isinstance(base, TensorStore) else existing_path(base, "BASE")
    in_memory = isinstance(tuned, (TensorStore, LoraAdapter))
    tuned_path = existing_path(tuned, "TUNED") if not in_memory else None
    base_store = base if isinstance(base, TensorStore) else open_checkpoint(
        base_path, allow_pickle=allow_pickle, role="BASE")
    selection.check_against(base_store, "BASE")
    if isinstance(tuned, LoraAdapter):
        return _plan_adapter(base_path, tuned.path, base_store, tuned, selection, allow_missing)
    if isinstance(tuned, TensorStore):
        return _plan_checkpoint(base_path, tuned.root, base_store, tuned, selection, allow_missing)
    if is_adapter_dir(tuned_path):
        adapter = read_adapter(tuned_path, allow_pickle=allow_pickle)
        return _plan_adapter(base_path, tuned_path, base_store, adapter, selection, allow_missing)
    tuned_store = open_checkpoint(tuned_path, allow_pickle=allow_pickle, role="TUNED")
    return _plan_checkpoint(base_path, tuned_path, base_store, tuned_store, selection, allow_missing)
