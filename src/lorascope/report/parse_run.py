"""A `lorascope run` output folder as report input: its manifest (recipe, profile, figure specs) and tables.

The folder is recognised by manifest.json carrying a "recipe"; every table the manifest lists is read from
its Parquet file. A missing or unreadable table, or a manifest without the expected fields, is an InputError
naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lorascope.errors import InputError
from lorascope.json_fields import read_json
from lorascope.report.data import RunData

MANIFEST = "manifest.json"


def is_run_folder(folder: Path) -> bool:
    """True when `folder` holds a manifest.json written by `lorascope run` (it names a recipe)."""
    path = folder / MANIFEST
    if not path.is_file():
        return False
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return True  # it claims to be one: parse_run reports what is wrong with it
    return isinstance(obj, dict) and "recipe" in obj


def parse_run(folder: Path, label: str) -> RunData:
    """The run folder's manifest and tables; InputError naming the file on anything malformed."""
    path = folder / MANIFEST
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise InputError(f"{path}: expected a JSON object")
    for key, kind in (("recipe", str), ("tables", dict), ("figures", dict)):
        if not isinstance(manifest.get(key), kind):
            raise InputError(f"{path}: field '{key}' should be a {kind.__name__}, got {manifest.get(key)!r:.60}")
    tables: dict[str, tuple[dict[str, Any], ...]] = {}
    for name, about in manifest["tables"].items():
        if not isinstance(about, dict) or not isinstance(about.get("path"), str):
            raise InputError(f"{path}: table '{name}' has no 'path'")
        tables[name] = tuple(_read_table(folder / about["path"]))
    return RunData(path=folder, label=label, recipe=manifest["recipe"], profile=manifest.get("profile"),
                   description=str(manifest.get("description") or ""), figures=manifest["figures"],
                   tables=tables, settings=manifest.get("settings") or {})


def _read_table(path: Path) -> list[dict[str, Any]]:
    """The rows of a Parquet table (pyarrow), with a missing or damaged file as an InputError naming it."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError(f"{path}: table listed in the manifest is missing")
    try:
        return pq.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise InputError(f"{path}: not a readable Parquet table ({type(e).__name__}: {e})") from e
