"""`reproduce`: run the experiment recipes behind the paper's main claims, then write the report and claims.json.

The output folder holds `runs/` (every training run, shared by the recipes: a configuration that two recipes
need, e.g. the LoRA run the rank sweep scans and the intervention scales, trains once), one `lorascope run`
folder per recipe (each resumable through its ledger, so a killed reproduce picks up where it stopped),
`toy/` (the §5.13 toy matrix, measured in a second, in the same manifest + tables layout), `report.html`
with the claims table at the top, and `claims.json`: one object per claim covered (id, claim, paper,
measured, holds, rule, note, figure).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lorascope._version import __version__
from lorascope.atomic import atomic_write_text
from lorascope.errors import InputError
from lorascope.experiments import toy
from lorascope.recipes.run import MANIFEST, run_experiment, write_tables

# Which recipes each profile runs. quick: the claims that need training at all (5.1, 5.2, 5.5, 5.6, 5.7, 5.12,
# 5.14), each recipe at its quick profile; full: every recipe at its full profile (many hours; resumable).
PROFILES: dict[str, tuple[str, ...]] = {
    "quick": ("rank_sweep", "lr_sweep", "intervention"),
    "full": ("rank_sweep", "lr_sweep", "intervention", "only_b", "seeds", "continual", "data_size"),
}


def experiments_dir() -> Path:
    """The experiment files of this checkout (experiments/ beside src/)."""
    return Path(__file__).resolve().parents[3] / "experiments"


@dataclass(frozen=True)
class ReproduceOptions:
    """What `lorascope reproduce` runs and where it writes."""

    profile: str = field(default="quick", metadata={"help": "quick (minutes) or full (hours, resumable)"})
    out: str | Path | None = field(default=None, metadata={"help": "output folder (default results/reproduce-PROFILE)"})
    recipes: tuple[str, ...] | None = field(default=None, metadata={"help": "recipes to run (default: the profile's)"})
    experiments: str | Path | None = field(default=None, metadata={"help": "folder of experiment files"})
    executor: str = field(default="local", metadata={"help": "local | ray"})
    cache_dir: str | Path | None = field(default=None, metadata={"help": "cache for models, hidden states, spectra"})
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict,
                                                 metadata={"help": "{section: {key: value}} for every recipe"})
    model: str | None = field(default=None, metadata={"help": "model of every recipe (a registered name such as "
                                                               "smollm2 or gemma3-270m, a folder, a Hub id); "
                                                               "default: each file's [train] model"})

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise InputError(f"--profile must be one of {', '.join(PROFILES)}; got {self.profile!r}")
        unknown = sorted(set(self.recipes or ()) - set(PROFILES["full"]))
        if unknown:
            raise InputError(f"unknown recipe(s) {', '.join(unknown)}; known: {', '.join(PROFILES['full'])}")


@dataclass(frozen=True)
class ReproduceResult:
    """Where everything went, and the claims table."""

    out: Path
    report: Path
    claims_json: Path
    claims: tuple
    run_folders: tuple[Path, ...]
    seconds: float


def reproduce(options: ReproduceOptions | None = None,
              log: Callable[[str], None] | None = None) -> ReproduceResult:
    """Run the profile's recipes (resuming finished work), then write report.html and claims.json."""
    from lorascope.report import build_report

    opts = options or ReproduceOptions()
    say = log or (lambda message: None)
    suffix = f"-{Path(opts.model).name}" if opts.model is not None else ""
    out = Path(opts.out) if opts.out is not None else Path("results") / f"reproduce-{opts.profile}{suffix}"
    overrides = {section: dict(values) for section, values in opts.overrides.items()}
    if opts.model is not None:
        overrides.setdefault("train", {})["model"] = opts.model
    folder = Path(opts.experiments) if opts.experiments is not None else experiments_dir()
    names: Sequence[str] = opts.recipes or PROFILES[opts.profile]
    files = [folder / f"{name}.toml" for name in names]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise InputError(f"experiment file(s) not found: {', '.join(missing)} (pass --experiments DIR)")
    start = time.perf_counter()
    runs = []
    for i, (name, file) in enumerate(zip(names, files, strict=True), 1):
        say(f"[{i}/{len(files)}] {name} ({opts.profile} profile) …")
        t = time.perf_counter()
        result = run_experiment(file, opts.profile, out / name, executor=opts.executor, overrides=overrides,
                                cache_dir=opts.cache_dir, log=say, runs_dir=out / "runs")
        say(f"[{i}/{len(files)}] {name}: {result.ran} job(s) ran, {result.reused} reused, "
            f"{time.perf_counter() - t:.0f} s")
        runs.append(result.out)
    say("toy check (5.13) and report …")
    report = build_report([*runs, write_toy(out / "toy")], out / "report.html",
                          title=f"LoRA vs full fine-tuning, reproduced ({opts.profile} profile"
                                f"{', ' + opts.model if opts.model else ''})", all_claims=True)
    claims_json = out / "claims.json"
    atomic_write_text(claims_json, json.dumps([c.to_json() for c in report.claims], indent=1, ensure_ascii=False)
                      + "\n")
    return ReproduceResult(out, report.html, claims_json, report.claims, tuple(runs), time.perf_counter() - start)


def write_toy(out: Path) -> Path:
    """The §5.13 toy measured (seconds) and written as a run folder (manifest.json, tables/) the report reads."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"lorascope_version": __version__, "recipe": "toy", "description": toy.DESCRIPTION,
                "profile": None, "tables": write_tables(out, {toy.TABLE: toy.spike_rows()}, {toy.TABLE: toy.ABOUT}),
                "figures": {}}
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return out
