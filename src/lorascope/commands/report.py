"""`lorascope report`: the Typer command over lorascope.report.build_report (registered by cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

FORMATS = ("html", "png")


def report(
    inputs: Annotated[list[Path], typer.Argument(
        help="scan JSON files, the demo's JSON, results.jsonl, monitor JSONL, scale.json, or folders of them")],
    out: Annotated[Path, typer.Option("--out", "-o", help="the HTML file to write")] = Path("report.html"),
    fmt: Annotated[str, typer.Option(
        "--format", help="html | png (png: also each figure as OUT-stem-figures/<figure>.png; needs Chromium)")
    ] = "html",
    matrix: Annotated[list[str] | None, typer.Option(
        help="regex: draw the similarity maps and per-matrix views of matching matrices")] = None,
    per_scan: Annotated[int, typer.Option(
        help="without --matrix: this many most-intruded matrices per scan get a map")] = 3,
    map_size: Annotated[int | None, typer.Option(help="show only the top N × N of each similarity map")] = None,
    title: Annotated[str | None, typer.Option(help="page title (default: the scans' names)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print nothing on success")] = False,
) -> None:
    """Draw one self-contained HTML page of figures from scans, training runs, monitors and scale runs."""
    from lorascope.errors import InputError
    from lorascope.report import build_report

    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    result = build_report(inputs, out, matrix=tuple(matrix or ()), per_scan=per_scan, map_size=map_size,
                          title=title, png=fmt == "png")
    if quiet:
        return
    figures = ", ".join(f.id for f in result.figures)
    line = f"wrote {result.html} ({len(result.figures)} figures: {figures})"
    if result.png:
        line += f"; {len(result.png)} PNGs in {result.png[0].parent}"
    Console().print(line, markup=False, highlight=False, soft_wrap=True)
