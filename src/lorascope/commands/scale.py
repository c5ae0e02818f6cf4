"""`lorascope scale`: a thin Typer skin over lorascope.pipelines.scale.scale."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lorascope.commands.options import option, options_from
from lorascope.display import run_with_progress
from lorascope.pipelines.scale import ScaleOptions

out = Console()
err = Console(stderr=True)


def scale(
    base: Annotated[str, typer.Argument(help="pretrained model: folder, .safetensors file or Hub id (org/name, "
                                             "org/name@revision); given alone, it is the adapter and its base is "
                                             "the one its adapter_config.json names")],
    lambdas: Annotated[str, typer.Option("--lambda", help="λ, or several: 0.3,0.5,0.7 (one output each)")],
    out_dir: Annotated[Path, typer.Option("--out", help="output folder (OUT/lambda-<λ>/ for several λ)")],
    tuned: Annotated[str | None, typer.Argument(help="fine-tuned checkpoint, or a PEFT LoRA adapter (folder or Hub "
                                                     "id)")] = None,
    target: str = option(ScaleOptions, "target"),
    k: int = option(ScaleOptions, "k"),
    epsilon: float = option(ScaleOptions, "epsilon"),
    merged: bool = option(ScaleOptions, "merged", "--merged"),
    force: bool = option(ScaleOptions, "force", "--force"),
    include: list[str] | None = option(ScaleOptions, "include"),
    exclude: list[str] | None = option(ScaleOptions, "exclude"),
    allow_missing: bool = option(ScaleOptions, "allow_missing"),
    allow_pickle: bool = option(ScaleOptions, "allow_pickle"),
    solver: str = option(ScaleOptions, "solver"),
    cache: bool = option(ScaleOptions, "cache", "--cache/--no-cache"),
    cache_dir: Path | None = option(ScaleOptions, "cache_dir"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar, summary line only")] = False,
) -> None:
    """Scale the intruder singular values of TUNED by λ (the paper's intervention) and write the model."""
    from lorascope.pipelines.scale import scale as run_scale

    opts = options_from(ScaleOptions, locals())
    if tuned is None:  # `scale ADAPTER`: the base is the one adapter_config.json names
        base, tuned = None, base
    result = run_with_progress(lambda progress: run_scale(base, tuned, out_dir, lambdas, opts, progress=progress),
                               quiet=quiet, console=err, idle="writing")
    for warning in result.warnings:
        err.print(f"lorascope: warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    where = ", ".join(str(Path(result.out) / p) if p != "." else result.out for p in result.outputs.values())
    out.print(
        f"{target}: changed {len(result.matrices)} matrices, left {len(result.untouched)} untouched; "
        f"wrote {result.output_format} to {where} (details in scale.json)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
