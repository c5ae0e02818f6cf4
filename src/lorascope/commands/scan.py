"""`lorascope scan`: the Typer command over lorascope.pipelines.scan (and multi_scan for several inputs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lorascope.atomic import check_out_file
from lorascope.commands.options import option, option_unset, options_from
from lorascope.errors import InputError
from lorascope.pipelines.multi_scan import RunOptions
from lorascope.pipelines.scan import ScanOptions

out = Console()
err = Console(stderr=True)


def scan(
    base: Annotated[str, typer.Argument(help="pretrained model: folder, .safetensors file or Hub id (org/name, "
                                             "org/name@revision); given alone, it is the adapter and its base is "
                                             "the one its adapter_config.json names")],
    tuned: Annotated[list[str] | None, typer.Argument(help="fine-tuned checkpoint or PEFT LoRA adapter (folder or Hub "
                                                           "id); several (or folders of them) need --out")] = None,
    k: int = option(ScanOptions, "k"),
    epsilon: float = option(ScanOptions, "epsilon"),
    epsilons: str = option(ScanOptions, "epsilons"),
    k_fractions: str | None = option(ScanOptions, "k_fractions"),
    map_size: int = option(ScanOptions, "map_size"),
    include: list[str] | None = option(ScanOptions, "include"),
    exclude: list[str] | None = option(ScanOptions, "exclude"),
    allow_missing: bool = option(ScanOptions, "allow_missing"),
    allow_pickle: bool = option(ScanOptions, "allow_pickle"),
    solver: str = option(ScanOptions, "solver"),
    update_stats: bool = option(ScanOptions, "update_stats", "--update-stats/--no-update-stats"),
    cache: bool = option(ScanOptions, "cache", "--cache/--no-cache"),
    cache_dir: Path | None = option(ScanOptions, "cache_dir"),
    workers: int = option(ScanOptions, "workers"),
    device: str = option(ScanOptions, "device"),
    json_path: Annotated[Path | None, typer.Option("--json", help="write the result as JSON here")] = None,
    max_rows: Annotated[int | None, typer.Option(help="print at most this many matrix rows")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar, summary line only")] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="write DIR/<input>.json per input and DIR/scans.json "
                                                                "listing them (several inputs)")] = None,
    executor: str | None = option_unset(RunOptions, "executor"),
    address: str | None = option(RunOptions, "address"),
    threads: int | None = option_unset(RunOptions, "threads"),
    group_size: int | None = option_unset(RunOptions, "group_size"),
    retries: int | None = option_unset(RunOptions, "retries"),
) -> None:
    """Count intruder dimensions of TUNED against BASE, per matrix and for the whole model (or of many TUNED)."""
    from lorascope.display import print_scan, print_warnings, run_with_progress, summary_line
    from lorascope.pipelines.scan import scan as run_scan

    opts = options_from(ScanOptions, locals(), epsilons=floats(epsilons, "--epsilons"),
                        k_fractions=floats(k_fractions, "--k-fractions"))
    if not tuned:  # `scan ADAPTER`: the base is the one adapter_config.json names
        base, tuned = None, [base]
    many = (out_dir, executor, address, threads, group_size, retries)
    if len(tuned) != 1 or any(flag is not None for flag in many):
        from lorascope.commands.multi_scan import scan_many

        scan_many(base, tuned, opts, out_dir=out_dir, executor=executor, address=address, threads=threads,
                  group_size=group_size, retries=retries, json_path=json_path, quiet=quiet, out=out, err=err)
        return
    if json_path is not None:
        check_writable(json_path)
    result = run_with_progress(lambda progress: run_scan(base, tuned[0], opts, progress=progress),
                               quiet=quiet, console=err)
    if json_path is not None:
        result.save_json(json_path)
    print_warnings(result.warnings, err)
    if quiet:
        out.print(summary_line(result))
    else:
        print_scan(result, out, max_rows)


def floats(text: str | None, option: str) -> tuple[float, ...] | None:
    """A comma-separated list of numbers given to `option`, as floats (None stays None)."""
    if text is None:
        return None
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise InputError(f"{option}: expected comma-separated numbers, got {text!r}") from None


def check_writable(path: Path) -> None:
    """Fail before the work, not after it, when the --json output cannot be written."""
    check_out_file(path, "--json")
