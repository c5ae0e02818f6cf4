"""Find and load the report's inputs: files named on the command line, and the files folders hold.

A file named explicitly must be one of: a scan JSON, the demo's JSON, a scale.json, a training run's
results.jsonl or a monitor JSONL; anything else is an InputError naming it. Inside a folder (searched
recursively, hidden entries skipped) only files that look like one of these are read, so model
folders with config.json or tokenizer.json are fine to point at; a file that looks like one but is
malformed is still an error. A scan is labelled by its optional top-level "label" field, else by its
file name."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from lorascope.errors import InputError
from lorascope.json_fields import read_json
from lorascope.report.data import Inputs, MonitorRow, RepairData, RunData, ScaleData, ScanData, TrainRow
from lorascope.report.parse_jsonl import read_jsonl
from lorascope.report.parse_monitor import is_monitor_row, parse_monitor_rows
from lorascope.report.parse_repair import is_repair, parse_repair
from lorascope.report.parse_run import is_run_folder, parse_run
from lorascope.report.parse_scale import is_scale, parse_scale
from lorascope.report.parse_scan import is_demo, is_scan, parse_demo, parse_scan
from lorascope.report.parse_train import is_train_row, parse_train_rows

_JSON_HINT = re.compile(rb'"lorascope_version"|"scan"\s*:\s*\{')
_PEEK = 4096


def _looks_like_ours(path: Path) -> bool:
    """A cheap test on the first bytes, so that folders of models and tokenizers are not parsed whole."""
    try:
        with path.open("rb") as f:
            head = f.readline(1 << 20) if path.suffix == ".jsonl" else f.read(_PEEK)
    except OSError:
        return False
    if path.suffix == ".json":
        return bool(_JSON_HINT.search(head))
    try:
        first = json.loads(head)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(first, dict) and (is_train_row(first) or is_monitor_row(first))


def _walk(folder: Path) -> tuple[list[Path], list[Path]]:
    """(report files, `lorascope run` folders) under `folder`; a run folder is read whole, never descended into."""
    found, runs = [], []
    for root, dirs, names in os.walk(folder):
        if is_run_folder(Path(root)):
            runs.append(Path(root))
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            p = Path(root) / name
            if not name.startswith(".") and p.suffix in (".json", ".jsonl") and _looks_like_ours(p):
                found.append(p)
    return found, runs


def _files(paths: Sequence[str | Path]) -> tuple[list[tuple[Path, bool]], list[Path]]:
    """(file, named explicitly) for every input file, each once; and every `lorascope run` folder, each once."""
    if not paths:
        raise InputError("no input given: name scan JSON files, results.jsonl, monitor JSONL, scale.json, "
                         "run folders or folders of them")
    files: list[tuple[Path, bool]] = []
    runs: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        p = Path(given)
        if not p.exists():
            raise InputError(f"{p}: no such file or directory")
        found, found_runs = _walk(p) if p.is_dir() else ([p], [])
        if p.is_dir() and not found and not found_runs:
            raise InputError(f"{p}: no scan JSON, results.jsonl, monitor JSONL, scale.json or run folder in "
                             "this folder")
        for f in found:
            if f.resolve() not in seen:
                seen.add(f.resolve())
                files.append((f, not p.is_dir()))
        for r in found_runs:
            if r.resolve() not in seen:
                seen.add(r.resolve())
                runs.append(r)
    return files, runs


def _label(path: Path, taken: set[str]) -> str:
    for label in (path.stem, f"{path.parent.name}/{path.stem}"):
        if label not in taken:
            return label
    i = 2
    while f"{path.stem} #{i}" in taken:
        i += 1
    return f"{path.stem} #{i}"


def _unique(label: str, taken: set[str]) -> str:
    out, i = label, 2
    while out in taken:
        out, i = f"{label} #{i}", i + 1
    return out


def load_inputs(paths: Sequence[str | Path]) -> Inputs:
    """Load and validate every input; InputError naming the first wrong file."""
    scans: list[ScanData] = []
    train: list[TrainRow] = []
    monitor: list[MonitorRow] = []
    scales: list[ScaleData] = []
    repairs: list[RepairData] = []
    kinds: list[tuple[Path, str]] = []
    labels: set[str] = set()
    files, run_folders = _files(paths)
    runs: list[RunData] = []
    for folder in run_folders:
        label = _unique(folder.name, labels)
        labels.add(label)
        runs.append(parse_run(folder, label))
        kinds.append((folder, f"{runs[-1].recipe} run"))
    for path, explicit in files:
        if path.suffix == ".jsonl":
            rows = read_jsonl(path)
            if not rows:
                raise InputError(f"{path}: no rows")
            first = rows[0][1]
            if is_train_row(first):
                train += parse_train_rows(rows, path)
                kinds.append((path, "training results"))
            elif is_monitor_row(first):
                monitor += parse_monitor_rows(rows, path)
                kinds.append((path, "training monitor"))
            elif explicit:
                raise InputError(f"{path}: not a results.jsonl or monitor JSONL "
                                 f"(first row has keys {', '.join(sorted(first))[:80]})")
            continue
        obj = read_json(path)
        if is_repair(obj):
            repairs.append(parse_repair(obj, path))
            kinds.append((path, "repair"))
        elif is_scan(obj) or (isinstance(obj, dict) and "matrices" in obj):  # a broken scan is an error, not skipped
            named = obj.get("label") if isinstance(obj, dict) and isinstance(obj.get("label"), str) else None
            scan = parse_scan(obj, path, _unique(named, labels) if named else _label(path, labels))
            labels.add(scan.label)
            scans.append(scan)
            kinds.append((path, "scan"))
        elif is_demo(obj):
            for scan in parse_demo(obj, path):
                scan = replace(scan, label=_unique(scan.label, labels))
                labels.add(scan.label)
                scans.append(scan)
            kinds.append((path, "demo scans"))
        elif is_scale(obj) or (isinstance(obj, dict) and "outputs" in obj):
            scales.append(parse_scale(obj, path))
            kinds.append((path, "scale"))
        elif explicit:
            raise InputError(f"{path}: not a lorascope scan JSON, demo JSON or scale.json")
    if not kinds:
        raise InputError(f"{', '.join(str(p) for p in paths)}: no scan JSON, results.jsonl, monitor JSONL or "
                         "scale.json found")
    return Inputs(tuple(scans), tuple(train), tuple(monitor), tuple(scales), tuple(kinds), tuple(runs),
                  tuple(repairs))
