"""`lorascope run`: the Typer command over lorascope.recipes.run (registered by cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from lorascope.errors import InputError


def parse_sets(items: list[str]) -> dict[str, dict[str, Any]]:
    """`--set SECTION.KEY=VALUE` items as {section: {key: value}}; VALUE is read as TOML, else as a string."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, eq, text = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not eq or not dot or not key:
            raise InputError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. train.model=/path/to/model")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        out.setdefault(section, {})[key] = value
    return out


def run_command(
    experiment: Annotated[Path, typer.Argument(help="an experiment file, e.g. experiments/rank_sweep.toml")],
    profile: Annotated[str | None, typer.Option(
        help="quick | full: the file's profile.NAME overrides (none: its base settings)")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="output folder (default: results/NAME-PROFILE)")] = None,
    executor: Annotated[str, typer.Option(help="local | ray (independent runs as Ray tasks)")] = "local",
    set_: Annotated[list[str] | None, typer.Option("--set", help="override SECTION.KEY=VALUE (TOML value)")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="cache for models, hidden states, base spectra")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="only the final line")] = False,
) -> None:
    """Run an experiment recipe (a grid of runs and analyses); rerun to resume, finished runs are skipped."""
    from lorascope.recipes.run import run_experiment

    err = Console(stderr=True)
    log = (lambda m: None) if quiet else (lambda m: err.print(m, markup=False, highlight=False))
    result = run_experiment(experiment, profile, out, executor=executor, overrides=parse_sets(set_ or []),
                            cache_dir=cache_dir, log=log)
    tables = ", ".join(f"{name} ({t['rows']})" for name, t in result.manifest["tables"].items())
    Console().print(f"{result.out}: {result.ran} job(s) ran, {result.reused} reused; tables: {tables}",
                    markup=False, highlight=False, soft_wrap=True)
