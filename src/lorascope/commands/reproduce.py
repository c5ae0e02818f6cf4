"""`lorascope reproduce`: the Typer command over lorascope.recipes.reproduce (registered by cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def reproduce_command(
    profile: Annotated[str, typer.Option(help="quick (minutes on a laptop) | full (hours; rerun to resume)")] = "quick",
    out: Annotated[Path | None, typer.Option("--out", help="output folder (default: results/reproduce-PROFILE)")]
    = None,
    recipe: Annotated[list[str] | None, typer.Option(help="run only these recipes (repeatable)")] = None,
    experiments: Annotated[Path | None, typer.Option(help="folder of experiment files (default: experiments/)")]
    = None,
    executor: Annotated[str, typer.Option(help="local | ray")] = "local",
    set_: Annotated[list[str] | None, typer.Option("--set", help="override SECTION.KEY=VALUE in every recipe")]
    = None,
    cache_dir: Annotated[Path | None, typer.Option(help="cache for models, hidden states, base spectra")] = None,
    model: Annotated[str | None, typer.Option(help="model of every recipe: smollm2 | gemma3-270m | a folder | "
                                              "a Hub id (default: each file's)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="only the claims table")] = False,
) -> None:
    """Run the experiments behind the paper's main claims on the default real model; write the report and
    claims.json (paper value, value measured here, whether it holds)."""
    from lorascope.commands.run import parse_sets
    from lorascope.recipes.reproduce import ReproduceOptions, reproduce

    opts = ReproduceOptions(profile=profile, out=out, recipes=tuple(recipe) if recipe else None,
                            experiments=experiments, executor=executor, cache_dir=cache_dir,
                            overrides=parse_sets(set_ or []), model=model)
    err = Console(stderr=True)
    result = reproduce(opts, log=None if quiet else (lambda m: err.print(m, markup=False, highlight=False)))
    table = Table(title=f"The paper's claims, measured here ({profile} profile)")
    for col in ("§5", "claim", "paper", "measured here", "verdict"):
        table.add_column(col)
    for c in result.claims:
        verdict = {True: "[green]holds[/]", False: "[red]does not hold[/]", None: "undecided"}[c.holds]
        table.add_row(c.id, c.claim, c.paper, c.measured, verdict)
    console = Console()
    console.print(table)
    console.print(f"report: {result.report}  ·  claims: {result.claims_json}  ·  {result.seconds:.0f} s",
                  markup=False, highlight=False, soft_wrap=True)
