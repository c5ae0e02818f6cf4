"""`lorascope run`: one experiment file (experiments/NAME.toml) at one profile, as a grid of resumable jobs.

Output folder:
    manifest.json      the recipe, profile, resolved settings, each table (rows, columns) and each figure's tables
    tables/NAME.parquet  tidy tables of everything measured
    ledger/KEY.json    one record per finished job (a rerun skips those; delete one to redo that job)
    runs/RUN_ID/       each training run (config.json, results.jsonl, checkpoints/, state/; resumable), unless
                       runs_dir puts them elsewhere (reproduce shares one runs/ across its recipes)
    ...                recipe-specific folders (scaled adapters, merged continual stages)
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorascope._version import __version__
from lorascope.atomic import atomic_write_text, check_out_folder
from lorascope.executor import check_executor, executor_session
from lorascope.experiments.context import Context
from lorascope.experiments.tables import columns_of, write_table
from lorascope.folder_lock import folder_lock
from lorascope.recipes import load_experiment, recipe_module

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ExperimentResult:
    """What a finished experiment wrote: its folder, manifest, and how many jobs ran or were reused."""

    out: Path
    manifest: dict[str, Any]
    ran: int
    reused: int

    def table_path(self, name: str) -> Path:
        return self.out / self.manifest["tables"][name]["path"]


def default_out(path: str | Path, profile: str | None) -> Path:
    """results/NAME-PROFILE under the current directory."""
    return Path("results") / f"{Path(path).stem}-{profile or 'default'}"


def run_experiment(path: str | Path, profile: str | None = None, out: str | Path | None = None, *,
                   executor: str = "local", overrides: dict[str, dict[str, Any]] | None = None,
                   cache_dir: str | Path | None = None, log: Callable[[str], None] | None = None,
                   runs_dir: str | Path | None = None) -> ExperimentResult:
    """Run (or resume) the experiment in `path` at `profile`, writing tables and a manifest to `out`.

    Training runs go to `runs_dir` (default `out/runs`): experiments given the same `runs_dir` train each
    distinct configuration once and share it, as `reproduce` does across its recipes.

    One process at a time per `out` (lorascope.folder_lock): a second one says so, waits, then resumes
    from the ledger the first left, ending with the same tables.
    """
    folder = Path(out) if out is not None else default_out(path, profile)
    with folder_lock(folder, "run", log or (lambda message: None)):
        return _run_experiment(path, profile, folder, executor=executor, overrides=overrides, cache_dir=cache_dir,
                               log=log, runs_dir=runs_dir)


def _run_experiment(path: str | Path, profile: str | None, out: Path, *, executor: str,
                    overrides: dict[str, dict[str, Any]] | None, cache_dir: str | Path | None,
                    log: Callable[[str], None] | None, runs_dir: str | Path | None = None) -> ExperimentResult:
    """`run_experiment` with its folder lock held."""
    check_executor(executor)
    experiment = load_experiment(path, profile, overrides)
    module = recipe_module(experiment.recipe)
    out = Path(out) if out is not None else default_out(path, profile)
    check_out_folder(out)
    start = time.perf_counter()
    ctx = Context(experiment, out, executor, None if cache_dir is None else str(cache_dir),
                  log or (lambda message: None), None if runs_dir is None else Path(runs_dir))
    with executor_session(executor):  # one Ray instance for every batch of jobs the recipe submits
        tables = module.run(ctx)  # a bad grid value fails while the recipe plans its runs, before any write
    described = write_tables(out, tables, module.TABLES)
    manifest = {
        "lorascope_version": __version__, "recipe": experiment.recipe, "description": experiment.description,
        "experiment_file": str(experiment.path), "profile": experiment.profile,
        "settings": {"train": experiment.train, "analysis": dataclasses.asdict(experiment.analysis),
                     "grid": dataclasses.asdict(experiment.grid)},
        "executor": executor, "runs_dir": str(ctx.runs_folder),
        "tables": described, "figures": module.FIGURES,
        "jobs": {"ran": ctx.ran, "reused_from_ledger": ctx.reused}, "seconds": round(time.perf_counter() - start, 3),
    }
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1, default=str) + "\n")
    return ExperimentResult(out, manifest, ctx.ran, ctx.reused)


def write_tables(out: Path, tables: dict[str, list[dict[str, Any]]], about: dict[str, str]) -> dict[str, Any]:
    """Each table as out/tables/NAME.parquet; returns the manifest's "tables" entry describing them."""
    (out / "tables").mkdir(parents=True, exist_ok=True)
    described = {}
    for name, rows in tables.items():
        file = write_table(out / "tables" / f"{name}.parquet", rows)
        described[name] = {"path": str(file.relative_to(out)), "rows": len(rows), "columns": columns_of(rows),
                           "about": about.get(name, "")}
    return described
