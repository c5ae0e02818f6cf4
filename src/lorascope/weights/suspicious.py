"""Valid but suspicious inputs, found while planning: warnings for the report instead of silence.

An adapter with lora_alpha 0 (ΔW = 0 everywhere), a rank at least min(m, n) of a matrix it adapts (the
update there is not low-rank, so its intruder count means something else), or a base_model_name_or_path
naming another model than BASE. What needs the tensors themselves (lora_B all zero, a checkpoint equal to
BASE) is found while scanning: lorascope.pipelines.unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from lorascope.weights.adapter import LoraAdapter
from lorascope.weights.store import TensorStore

_SHOWN = 3  # matrices named in one warning


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def zero_alpha_warning(adapter: LoraAdapter, analysed: dict[str, str]) -> list[str]:
    """lora_alpha (or an alpha_pattern entry) of 0: scale 0, so ΔW = 0 for those modules whatever the factors."""
    zero = [analysed[m.module] for m in adapter.modules if m.module in analysed and m.alpha == 0]
    if not zero:
        return []
    every = "every adapted matrix" if len(zero) == len(analysed) else f"{len(zero)} matrices ({_listed(zero)})"
    return [f"{adapter.path}: lora_alpha is 0 for {every}, so the scale α/r is 0 and ΔW = 0 there whatever "
            "lora_A and lora_B hold: 0 intruders by construction"]


def full_rank_warning(adapter: LoraAdapter, analysed: dict[str, str]) -> list[str]:
    """Modules whose r >= min(m, n): the update is not low-rank there, so 'intruders of a LoRA' means less."""
    full = [f"{analysed[m.module]} (r={m.rank}, {m.shape[0]}×{m.shape[1]})" for m in adapter.modules
            if m.module in analysed and m.rank >= min(m.shape)]
    if not full:
        return []
    return [f"{adapter.path}: rank r is at least min(m, n) for {len(full)} matrices ({_listed(full)}): the update "
            "there can be any matrix, not a low-rank one, so its intruder count compares a full-rank update, "
            "not a LoRA"]


def _hf_cache_name(path: Path) -> str | None:
    """'org/name' for a folder inside the Hugging Face cache (models--org--name/snapshots/<hash>)."""
    for part in path.parts:
        found = re.fullmatch(r"models--(.+)", part)
        if found:
            return found[1].replace("--", "/")
    return None


def _names_of_base(base_path: Path, base: TensorStore) -> tuple[set[Path], set[str]]:
    """BASE's own folder(s) and the names it goes by: folder name, HF cache repo, config's _name_or_path."""
    folder = base_path if base_path.is_dir() else base_path.parent
    folders = {folder.resolve()}
    names = {folder.name, base_path.stem}
    repo = _hf_cache_name(folder.resolve())
    if repo:
        names |= {repo, repo.rsplit("/", 1)[-1]}
    recorded = (base.config or {}).get("_name_or_path")
    if isinstance(recorded, str) and recorded:
        names |= {recorded, recorded.rstrip("/").rsplit("/", 1)[-1]}
        if Path(recorded).is_dir():
            folders.add(Path(recorded).resolve())
    return folders, {n.lower() for n in names if n}


def base_model_warning(adapter: LoraAdapter, base_path: Path, base: TensorStore) -> list[str]:
    """The adapter's base_model_name_or_path names another model than BASE (same folder or same name: fine)."""
    recorded = adapter.settings.raw.get("base_model_name_or_path")
    if not isinstance(recorded, str) or not recorded.strip():
        return []
    folders, names = _names_of_base(base_path, base)
    as_path = Path(recorded).expanduser()
    if as_path.exists() and (as_path if as_path.is_dir() else as_path.parent).resolve() in folders:
        return []
    short = recorded.rstrip("/").rsplit("/", 1)[-1].lower()
    if recorded.lower() in names or short in names:
        return []
    return [f"{adapter.path}: adapter_config.json says it was trained on {recorded!r} "
            f"(base_model_name_or_path), but BASE is {base_path}; if BASE is another model, ΔW and its "
            "intruders are measured against the wrong W0 (shapes matched, so nothing else caught it)"]


def adapter_warnings(adapter: LoraAdapter, base_path: Path, base: TensorStore, analysed: dict[str, str]) -> list[str]:
    """Every planning-time warning about `adapter`; `analysed` maps its analysed modules to BASE matrix names."""
    return (zero_alpha_warning(adapter, analysed) + full_rank_warning(adapter, analysed)
            + base_model_warning(adapter, base_path, base))
