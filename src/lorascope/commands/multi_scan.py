"""`lorascope scan BASE TUNED... --out DIR`: the skin over lorascope.pipelines.multi_scan (cli.scan calls it)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from lorascope.display import print_warnings, run_with_progress
from lorascope.errors import InputError
from lorascope.pipelines.multi_scan import MultiScanReport, RunOptions, multi_scan
from lorascope.pipelines.scan import ScanOptions

MULTI_FLAGS = ("--out", "--executor", "--address", "--threads", "--group-size", "--retries")


def scan_many(base: Path, tuned: list[Path], options: ScanOptions, *, out_dir: Path | None, executor: str | None,
              address: str | None, threads: int | None, group_size: int | None, retries: int | None,
              json_path: Path | None, quiet: bool, out: Console, err: Console) -> MultiScanReport:
    """Check the flags of a multi-input scan, run it under a per-job progress bar, print what was written."""
    if out_dir is None and len(tuned) > 1:
        raise InputError(f"{len(tuned)} TUNED inputs write one JSON each into a folder: pass --out DIR")
    if out_dir is None:
        raise InputError(f"{', '.join(MULTI_FLAGS[1:])} apply to scans written with --out DIR: pass --out DIR")
    if json_path is not None:
        raise InputError("--json writes one scan; with --out DIR each input is written to DIR/<name>.json")
    given = {"executor": executor, "address": address, "threads": threads, "group_size": group_size,
             "retries": retries}
    run = RunOptions(**{k: v for k, v in given.items() if v is not None})
    report = run_with_progress(lambda progress: multi_scan(base, tuned, out_dir, options, run, progress=progress),
                               quiet=quiet, console=err, idle="done")
    for e in report.scans:
        print_warnings(e.result.warnings, err)
    if not quiet:
        table = Table(title=f"{len(report.scans)} scans against {report.base} ({report.executor}), in {report.out}")
        for column in ("input", "kind", "matrices", "intruders", "json"):
            table.add_column(column, justify="right" if column in ("matrices", "intruders") else "left",
                             overflow="fold")
        for e in report.scans:
            table.add_row(e.tuned, e.result.tuned_kind, str(len(e.result.matrices)), str(e.result.total_intruders),
                          e.json_path.name)
        out.print(table)
    out.print(f"wrote {len(report.scans)} scans and {report.index_path} in {report.seconds:.1f} s; base index: "
              f"{report.index_built} matrices built, {report.index_hits} already present "
              f"({report.index_jobs} jobs), {report.computed_in_scans} computed in scan jobs; "
              f"{len(report.retries)} retries", markup=False, highlight=False, soft_wrap=True)
    return report
