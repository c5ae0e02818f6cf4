"""`lorascope index`: a thin Typer skin over lorascope.pipelines.index.build_index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lorascope.display import run_with_progress

out = Console()
err = Console(stderr=True)


def index(
    base: Annotated[Path, typer.Argument(help="pretrained model: HF directory or .safetensors file")],
    cache_dir: Annotated[
        Path | None, typer.Option(help="index location (default $LORASCOPE_CACHE, else the user cache dir)")
    ] = None,
    include: Annotated[list[str] | None, typer.Option(help="regex: index only matching tensors")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="regex: skip matching tensors")] = None,
    full_hash: Annotated[
        bool,
        typer.Option(
            "--full-hash",
            help="also check each entry against the SHA-256 of its whole matrix; rebuild on mismatch",
        ),
    ] = False,
    workers: Annotated[int, typer.Option(help="matrices decomposed in parallel (threads)")] = 1,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N | auto")] = "cpu",
    allow_pickle: Annotated[bool, typer.Option(help="read .bin/.pt pickles (weights_only=True)")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Compute BASE's spectral index once (U, S of every matrix a scan uses), so later scans are fast."""
    from lorascope.pipelines.index import IndexOptions, build_index

    opts = IndexOptions(
        include=tuple(include or ()),
        exclude=tuple(exclude or ()),
        full_hash=full_hash,
        workers=workers,
        device=device,
        cache_dir=cache_dir,
        allow_pickle=allow_pickle,
    )
    report = run_with_progress(lambda progress: build_index(base, opts, progress=progress), quiet=quiet,
                               console=err)
    for m in report.matrices:
        if m.replaced:
            err.print(
                f"lorascope: rebuilt {m.name}: {m.replaced}", markup=False, highlight=False, soft_wrap=True
            )
    out.print(
        f"indexed {len(report.matrices)} matrices of {base} in {report.seconds:.1f} s: "
        f"{report.count('built')} built, {report.count('hit')} already present, "
        f"{report.count('rebuilt')} rebuilt; {report.entry_bytes() / 2**20:.1f} MiB at {report.root}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
