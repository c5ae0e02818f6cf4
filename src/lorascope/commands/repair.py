"""`lorascope repair`: a thin Typer skin over lorascope.pipelines.repair.repair (flags read from RepairOptions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lorascope.commands.options import option
from lorascope.errors import InputError
from lorascope.pipelines.repair import RepairOptions

out = Console()
err = Console(stderr=True)


def repair(
    models: Annotated[list[str], typer.Argument(
        help="[BASE] ADAPTER: the pretrained model and the PEFT LoRA adapter, each a folder or a Hub id "
             "org/name[@revision]; without BASE, the base adapter_config.json names", metavar="[BASE] ADAPTER")],
    data: Annotated[Path, typer.Option("--data", help="validation data: .csv, .tsv, .jsonl or .parquet")],
    out_dir: Annotated[Path, typer.Option("--out", help="output folder: the repaired adapter (when a λ is chosen), "
                                                        "repair.json and report.html")],
    max_quality_drop: float = option(RepairOptions, "max_quality_drop"),
    lambdas: str = option(RepairOptions, "lambdas"),
    target: str = option(RepairOptions, "target"),
    forget_text: Path | None = option(RepairOptions, "forget_text"),
    text_column: str = option(RepairOptions, "text_column"),
    label_column: str = option(RepairOptions, "label_column"),
    k: int = option(RepairOptions, "k"),
    epsilon: float = option(RepairOptions, "epsilon"),
    max_length: int = option(RepairOptions, "max_length"),
    forget_mode: str = option(RepairOptions, "forget_mode"),
    forget_chunks: int | None = option(RepairOptions, "forget_chunks"),
    chunk_length: int = option(RepairOptions, "chunk_length"),
    context: int | None = option(RepairOptions, "context"),
    batch_size: int = option(RepairOptions, "batch_size"),
    force: bool = option(RepairOptions, "force", "--force"),
    include: list[str] | None = option(RepairOptions, "include"),
    exclude: list[str] | None = option(RepairOptions, "exclude"),
    cache: bool = option(RepairOptions, "cache", "--cache/--no-cache"),
    cache_dir: Path | None = option(RepairOptions, "cache_dir"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar, result line only")] = False,
) -> None:
    """Scale the adapter's intruder dimensions by the λ that forgets least within a quality budget; write it."""
    from lorascope.display import run_with_progress
    from lorascope.pipelines.repair import repair as run_repair

    if len(models) not in (1, 2):
        raise InputError(f"repair takes [BASE] ADAPTER; got {len(models)} paths")
    base, adapter = (None, models[0]) if len(models) == 1 else models
    opts = RepairOptions(max_quality_drop=max_quality_drop, lambdas=lambdas, target=target, forget_text=forget_text,
                         text_column=text_column, label_column=label_column, k=k, epsilon=epsilon,
                         max_length=max_length, forget_mode=forget_mode, forget_chunks=forget_chunks,
                         chunk_length=chunk_length, context=context,
                         batch_size=batch_size, force=force, include=tuple(include or ()),
                         exclude=tuple(exclude or ()), cache=cache, cache_dir=cache_dir)
    result = run_with_progress(lambda progress: run_repair(base, adapter, out_dir, data, opts, progress=progress),
                               quiet=quiet, console=err, idle="writing")
    for warning in result.warnings:
        err.print(f"lorascope: warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    where = f"; wrote the adapter, repair.json and report.html to {result.out}" if result.adapter_written else (
        f"; wrote repair.json and report.html to {result.out}")
    out.print(result.message + where, markup=False, highlight=False, soft_wrap=True)
