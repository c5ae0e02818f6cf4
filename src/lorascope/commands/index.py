"""`lorascope index`: a thin Typer skin over lorascope.pipelines.index.build_index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lorascope.commands.options import option, options_from
from lorascope.display import run_with_progress
from lorascope.pipelines.index import IndexOptions

out = Console()
err = Console(stderr=True)


def index(
    base: Annotated[str, typer.Argument(help="pretrained model: folder, .safetensors file or "
                                             "Hub id (org/name, org/name@revision)")],
    cache_dir: Path | None = option(IndexOptions, "cache_dir"),
    include: list[str] | None = option(IndexOptions, "include"),
    exclude: list[str] | None = option(IndexOptions, "exclude"),
    full_hash: bool = option(IndexOptions, "full_hash", "--full-hash"),
    workers: int = option(IndexOptions, "workers"),
    device: str = option(IndexOptions, "device"),
    allow_pickle: bool = option(IndexOptions, "allow_pickle"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Compute BASE's spectral index once (U, S of every matrix a scan uses), so later scans are fast."""
    from lorascope.pipelines.index import build_index

    opts = options_from(IndexOptions, locals())
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
