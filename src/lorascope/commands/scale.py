"""`lorascope scale`: a thin Typer skin over lorascope.pipelines.scale.scale."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lorascope.display import run_with_progress
from lorascope.pipelines.scale import TARGETS

out = Console()
err = Console(stderr=True)


def scale(
    base: Annotated[Path, typer.Argument(help="pretrained model: HF directory or .safetensors file")],
    tuned: Annotated[Path, typer.Argument(help="fine-tuned checkpoint, or a PEFT LoRA adapter directory")],
    lambdas: Annotated[str, typer.Option("--lambda", help="λ, or several: 0.3,0.5,0.7 (one output each)")],
    out_dir: Annotated[Path, typer.Option("--out", help="output folder (OUT/lambda-<λ>/ for several λ)")],
    target: Annotated[str, typer.Option(help=" | ".join(TARGETS))] = "top-intruder",
    k: Annotated[int, typer.Option(help="top singular vectors of W_tuned examined per matrix")] = 10,
    epsilon: Annotated[float, typer.Option(help="intruder iff max |cos| to every base vector < ε")] = 0.5,
    merged: Annotated[
        bool, typer.Option("--merged", help="write a full merged checkpoint for an adapter")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="replace a non-empty --out folder")] = False,
    include: Annotated[list[str] | None, typer.Option(help="regex: analyse only matching tensors")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="regex: skip matching tensors")] = None,
    allow_missing: Annotated[bool, typer.Option(help="report unpaired tensors instead of failing")] = False,
    allow_pickle: Annotated[bool, typer.Option(help="read .bin/.pt pickles (weights_only=True)")] = False,
    solver: Annotated[str, typer.Option(help="auto | exact (full SVDs)")] = "auto",
    cache: Annotated[
        bool, typer.Option("--cache/--no-cache", help="use and extend the base spectral index (as scan)")
    ] = True,
    cache_dir: Annotated[Path | None, typer.Option(help="index location (as scan's)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar, summary line only")] = False,
) -> None:
    """Scale the intruder singular values of TUNED by λ (the paper's intervention) and write the model."""
    from lorascope.pipelines.scale import ScaleOptions
    from lorascope.pipelines.scale import scale as run_scale

    opts = ScaleOptions(
        target=target,
        k=k,
        epsilon=epsilon,
        merged=merged,
        force=force,
        include=tuple(include or ()),
        exclude=tuple(exclude or ()),
        allow_missing=allow_missing,
        allow_pickle=allow_pickle,
        solver=solver,
        cache=cache,
        cache_dir=cache_dir,
    )
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
