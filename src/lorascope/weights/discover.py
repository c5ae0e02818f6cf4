"""Find the model inputs a user names: a checkpoint, an adapter, a weights file, or folders holding many of them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from lorascope.errors import InputError
from lorascope.weights.checkpoint import is_adapter_dir
from lorascope.weights.source import resolve_source

MODEL_FILES = ("config.json", "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
               "pytorch_model.bin.index.json")
WEIGHT_SUFFIXES = (".safetensors.index.json", ".safetensors", ".bin", ".pt", ".pth")


def natural_key(name: str) -> list[int | str]:
    """Sort key putting checkpoint-900 before checkpoint-1000."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def is_model(path: Path) -> bool:
    """Whether `path` is one model input (a weights file, an adapter or a checkpoint folder), not a collection."""
    if not path.is_dir() or is_adapter_dir(path):
        return True
    if any((path / name).is_file() for name in MODEL_FILES):
        return True
    return any(p.is_file() and p.name.endswith(WEIGHT_SUFFIXES) for p in path.iterdir())


def models_under(folder: Path) -> list[Path]:
    """Every model folder below `folder`, depth first, sub-folders in natural order."""
    found: list[Path] = []
    for child in sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
        found.extend([child] if is_model(child) else models_under(child))
    return found


def expand_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Every model input: each path itself, or for a folder of models, every adapter/checkpoint folder under it."""
    if not paths:
        raise InputError("TUNED: give at least one fine-tuned checkpoint, adapter or folder of them")
    inputs: list[Path] = []
    for given in paths:
        path = resolve_source(given, "TUNED")
        if is_model(path):
            inputs.append(path)
            continue
        found = models_under(path)
        if not found:
            raise InputError(f"TUNED {path}: holds no checkpoint or PEFT adapter (in it or in its sub-folders)")
        inputs.extend(found)
    seen: dict[Path, Path] = {}
    for path in inputs:
        real = path.resolve()
        if real in seen:
            raise InputError(f"TUNED {path}: given twice (also as {seen[real]})")
        seen[real] = path
    return inputs


def model_stem(path: Path) -> str:
    """A model input's name without a weights-file suffix (adapter.safetensors -> adapter; folders as they are)."""
    name = path.name
    for suffix in WEIGHT_SUFFIXES:
        if path.is_file() and name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name
