"""The `*.index.json` of a sharded checkpoint: which shard file holds which tensor."""

from __future__ import annotations

import json
from pathlib import Path

from lorascope.errors import InputError


def read_shard_index(index_path: Path) -> dict[str, Path]:
    """Tensor name -> shard path, every listed shard present on disk, so a broken index fails before reads."""
    try:
        parsed = json.loads(index_path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"{index_path}: cannot read shard index: {err.strerror or err}") from err
    except (UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{index_path}: shard index is not valid JSON ({err})") from err
    weight_map = parsed.get("weight_map") if isinstance(parsed, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise InputError(f"{index_path}: shard index has no 'weight_map' object")
    folder = index_path.parent
    resolved: dict[str, Path] = {}
    for name, shard in weight_map.items():
        if not isinstance(shard, str) or not shard or Path(shard).is_absolute() or ".." in Path(shard).parts:
            raise InputError(f"{index_path}: tensor {name!r} maps to an invalid shard name {shard!r}")
        resolved[name] = folder / shard
    missing: dict[Path, list[str]] = {}
    for name, shard_path in resolved.items():
        if not shard_path.is_file():
            missing.setdefault(shard_path, []).append(name)
    if missing:
        shard_path, names = next(iter(missing.items()))
        others = f" (and {len(missing) - 1} more missing shards)" if len(missing) > 1 else ""
        raise InputError(
            f"{index_path}: shard {shard_path.name} is missing on disk; it should hold {len(names)} tensors, "
            f"e.g. {names[0]!r}{others}"
        )
    return resolved
