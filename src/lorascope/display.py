"""Rich rendering of results for people; the JSON is for programs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from lorascope.results import ScanResult

T = TypeVar("T")
ProgressFn = Callable[[int, int, str], None]


def run_with_progress(work: Callable[[ProgressFn | None], T], *, quiet: bool, console: Console,
                      idle: str = "done") -> T:
    """Run `work(progress)` under a transient per-matrix Rich bar on `console`; `work(None)` when quiet."""
    if quiet:
        return work(None)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeRemainingColumn(), console=console, transient=True)
    task = bar.add_task("matrices", total=None)

    def update(i: int, n: int, name: str) -> None:
        bar.update(task, completed=i, total=n, description=name.removesuffix(".weight")[-48:] or idle)

    with bar:
        return work(update)


def _layer_sort(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (10**9, key)


def scan_tables(result: ScanResult, max_rows: int | None = None) -> list[Table]:
    """The per-matrix table, the roll-ups by module type and by depth, and the ε sweep."""
    per = Table(title=f"Intruder dimensions (k={result.k}, ε={result.epsilon}) — {result.tuned_kind} vs base",
                show_footer=False)
    for col, just in [("matrix", "left"), ("shape", "right"), ("intruders", "right"),
                      ("min max|cos|", "right"), ("eff. rank ΔW", "right"), ("solver", "left")]:
        per.add_column(col, justify=just)
    rows = result.matrices if max_rows is None else result.matrices[:max_rows]
    for m in rows:
        style = "bold magenta" if m.intruders else None
        erank = f"{m.analysis.delta.effective_rank:.1f}" if m.analysis.delta is not None else "—"
        per.add_row(m.name, "×".join(map(str, m.shape)), str(m.intruders), f"{m.min_max_cos:.3f}", erank,
                    m.analysis.solver, style=style)
    if max_rows is not None and len(result.matrices) > max_rows:
        per.add_row(f"… {len(result.matrices) - max_rows} more (see --json)", "", "", "", "", "")

    by_type = Table(title="By module type")
    by_type.add_column("module")
    by_type.add_column("matrices", justify="right")
    by_type.add_column("intruders", justify="right")
    for g, (n_intr, n) in sorted(result.rollup("module_type").items()):
        by_type.add_row(g, str(n), str(n_intr))

    by_layer = Table(title="By layer depth")
    by_layer.add_column("layer", justify="right")
    by_layer.add_column("matrices", justify="right")
    by_layer.add_column("intruders", justify="right")
    for g, (n_intr, n) in sorted(result.rollup("layer").items(), key=lambda kv: _layer_sort(kv[0])):
        by_layer.add_row(g, str(n), str(n_intr))

    sweep = Table(title=f"Model total vs ε (k={result.k})")
    for e in result.epsilons:
        sweep.add_column(f"{e:g}", justify="right")
    sweep.add_row(*map(str, result.epsilon_totals()))
    return [per, by_type, by_layer, sweep]


def summary_line(result: ScanResult) -> str:
    """One line a person reads first."""
    return (f"{result.total_intruders} intruder dimensions in {len(result.matrices)} matrices "
            f"(k={result.k}, ε={result.epsilon}); {len(result.skipped)} skipped; {result.seconds:.1f} s")


def print_scan(result: ScanResult, console: Console, max_rows: int | None = None) -> None:
    """Print the tables, skipped tensors and the summary line (warnings go to stderr: print_warnings)."""
    for t in scan_tables(result, max_rows):
        console.print(t)
    for name, reason in result.skipped:
        console.print(f"[dim]skipped {name}: {reason}[/dim]")
    console.print(f"[bold]{summary_line(result)}[/bold]")


def print_warnings(warnings: list[str], err: Console) -> None:
    """One `lorascope: warning: ...` line on stderr per warning, also with --quiet (they are in the JSON too)."""
    for w in warnings:
        err.print(f"lorascope: warning: {w}", markup=False, highlight=False, soft_wrap=True)
