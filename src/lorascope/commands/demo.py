"""`lorascope demo`: the Typer command over lorascope.pipelines.demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def demo(
    cache_dir: Annotated[Path | None, typer.Option(help="where the demo's fine-tunes are kept")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="write both scans as JSON here")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Fine-tune a real model (all-MiniLM-L6-v2) on real reviews with LoRA and fully, then scan both."""
    from lorascope.commands.scan import check_writable
    from lorascope.pipelines.demo import run_demo

    if json_path is not None:
        check_writable(json_path)
    run_demo(cache_dir=cache_dir, json_path=json_path, console=Console(), quiet=quiet)
