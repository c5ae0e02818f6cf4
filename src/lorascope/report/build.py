"""`build_report`: load the inputs, build every figure their data allows, write one self-contained HTML file
(and, on request, one PNG per figure). Nothing is written when an input is wrong."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lorascope._version import __version__
from lorascope.atomic import atomic_write_text, check_out_file
from lorascope.errors import InputError
from lorascope.report.budget import check_report_memory
from lorascope.report.claims import Claim, evaluate_claims, every_claim
from lorascope.report.data import Inputs
from lorascope.report.figures import FigureOptions, all_figures
from lorascope.report.load import load_inputs
from lorascope.report.page import render_page
from lorascope.report.spec import Figure


@dataclass(frozen=True)
class Report:
    """What build_report wrote."""

    html: Path
    figures: tuple[Figure, ...]
    inputs: Inputs
    png: tuple[Path, ...] = ()
    claims: tuple[Claim, ...] = ()


def png_dir(out: Path) -> Path:
    """Where the PNGs of report `out` go: `report.html` -> `report-figures/`."""
    return out.with_name(out.stem + "-figures")


def _check_out(out: Path, png: bool) -> None:
    check_out_file(out, "-o")
    folder = png_dir(out)
    if png and folder.exists() and (not folder.is_dir() or any(p.suffix != ".png" for p in folder.iterdir())):
        raise InputError(f"{folder}: exists and holds more than PNG files; move it or choose another -o")


def build_report(inputs: Sequence[str | Path], out: str | Path, *, matrix: Sequence[str] = (), per_scan: int = 3,
                 map_size: int | None = None, title: str | None = None, png: bool = False,
                 extra_claims: Sequence[Claim] = (), all_claims: bool = False) -> Report:
    """Write the report of `inputs` (scan JSONs, results.jsonl, monitor JSONL, scale.json, run folders, folders of
    them) to `out`. Run folders also give the claims table (PAPER.md §5) at the top; `extra_claims` join it;
    `all_claims` adds a row, with the reason, for each §5 claim the inputs do not measure."""
    out = Path(out)
    options = FigureOptions(tuple(matrix), per_scan, map_size)
    _check_out(out, png)
    check_report_memory(inputs)
    if png:
        from lorascope.report.browser import find_browser

        find_browser()  # fail before the work when no browser can draw the PNGs
    loaded = load_inputs(inputs)
    figures = tuple(all_figures(loaded, options))
    if not figures:
        kinds = ", ".join(sorted({k for _, k in loaded.files}))
        raise InputError(f"nothing to draw from these inputs ({kinds}): scale.json files need accuracy or "
                         "forgetting measurements in their outputs")
    claims = tuple(evaluate_claims(loaded.runs)) + tuple(extra_claims)
    if all_claims:
        claims = tuple(every_claim(claims))
    html = render_page(figures, loaded, title or _default_title(loaded), __version__, claims)
    pngs: tuple[Path, ...] = ()
    if png:
        from lorascope.report.png import write_pngs

        pngs = write_pngs(html, [f.id for f in figures], png_dir(out))
    atomic_write_text(out, html)
    _readable(out)
    return Report(out, figures, loaded, pngs, claims)


def _readable(path: Path) -> None:
    """Give the page the usual permissions for a new file (the atomic write's temp file starts private)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def _default_title(inputs: Inputs) -> str:
    labels = [s.label for s in inputs.scans]
    if 1 < len(labels) <= 4:
        return " vs ".join(labels)
    if len(labels) == 1:
        return f"What fine-tuning changed: {labels[0]}"
    return "What fine-tuning changed"
