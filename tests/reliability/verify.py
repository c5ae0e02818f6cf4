"""Checks on what a run left on disk: every index entry verified, no temp folder, JSON without timings."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from lorascope.index import index_layout, read_entry
from lorascope.index.key import TensorKey

TIMING_KEYS = ("seconds", "sec_per_step", "eval_seconds")


def entry_problems(cache: Path) -> list[str]:
    """Why each entry folder of the index under `cache` would not be served (empty list: all verified)."""
    layout = index_layout(cache)
    problems = []
    for folder in layout.entries():
        try:
            raw = json.loads((folder / "meta.json").read_text())["key"]
            key = TensorKey(tuple(raw["shape"]), raw["sample_sha256"], raw["word_sum"], tuple(raw["moments"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            problems.append(f"{folder.name}: meta.json unusable ({e})")
            continue
        if key.digest != folder.name:
            problems.append(f"{folder.name}: stored under the wrong digest")
            continue
        found = read_entry(layout, key)
        if found.spectrum is None:
            problems.append(f"{folder.name}: {found.problem}")
    return problems


def leftover_tmp(cache: Path) -> list[str]:
    """Names of temp folders under the index's tmp/ (a finished run leaves none of its own)."""
    tmp = index_layout(cache).tmp
    return sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []


def untimed(obj):
    """`obj` (parsed JSON) with every timing field removed, recursively."""
    if isinstance(obj, dict):
        return {k: untimed(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [untimed(v) for v in obj]
    return obj


def tree_digest(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under `root` (names in `skip` and their folders left out)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in skip for part in rel.parts) or not path.is_file():
            continue
        out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest() if not path.is_symlink() else os.readlink(path)
    return out
