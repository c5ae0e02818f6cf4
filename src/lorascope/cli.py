"""The `lorascope` command: a thin Typer skin over the Python API."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console

from lorascope.errors import InputError, LorascopeError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="How fine-tuning changed a pretrained model, through the spectra of its weight matrices.")
out = Console()
err = Console(stderr=True)


def _floats(text: str | None, option: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise InputError(f"{option}: expected comma-separated numbers, got {text!r}") from None


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks on errors")] = False) -> None:
    """Options before the command apply to every command."""


@app.command()
def scan(
    base: Annotated[Path, typer.Argument(help="pretrained model: HF directory or .safetensors file")],
    tuned: Annotated[list[Path], typer.Argument(help="fine-tuned checkpoint or PEFT LoRA adapter directory; several "
                                                     "(or folders of them) need --out")],
    k: Annotated[int, typer.Option(help="top singular vectors of W_tuned examined per matrix")] = 10,
    epsilon: Annotated[float, typer.Option(help="intruder iff max |cos| to every base vector < ε")] = 0.5,
    epsilons: Annotated[str, typer.Option(help="ε grid of the sweep")] = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",
    k_fractions: Annotated[str | None, typer.Option(help="k-fraction sweep, e.g. 0.1,0.5,1 (full SVDs)")] = None,
    map_size: Annotated[int, typer.Option(help="n of the top-n × top-n similarity map")] = 10,
    include: Annotated[list[str] | None, typer.Option(help="regex: analyse only matching tensors")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="regex: skip matching tensors")] = None,
    allow_missing: Annotated[bool, typer.Option(help="report unpaired tensors instead of failing")] = False,
    allow_pickle: Annotated[bool, typer.Option(help="read .bin/.pt pickles (weights_only=True)")] = False,
    solver: Annotated[str, typer.Option(help="auto | exact (full SVDs)")] = "auto",
    update_stats: Annotated[bool, typer.Option("--update-stats/--no-update-stats",
                                               help="measure ΔW's effective rank and norms (full checkpoints: "
                                                    "costs more than the intruder test)")] = True,
    cache: Annotated[bool, typer.Option("--cache/--no-cache",
                                        help="use and extend the base spectral index (see `lorascope index`)")] = True,
    cache_dir: Annotated[Path | None, typer.Option(help="index location (default $LORASCOPE_CACHE, else the "
                                                        "user cache dir)")] = None,
    workers: Annotated[int, typer.Option(help="matrices solved in parallel (threads)")] = 1,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N | auto")] = "cpu",
    json_path: Annotated[Path | None, typer.Option("--json", help="write the result as JSON here")] = None,
    max_rows: Annotated[int | None, typer.Option(help="print at most this many matrix rows")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar, summary line only")] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="write DIR/<input>.json per input and DIR/scans.json "
                                                                "listing them (several inputs)")] = None,
    executor: Annotated[str | None, typer.Option(help="local | ray: where the jobs of an --out scan run")] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster to join (e.g. auto, ray://head:10001); default: "
                                                     "start a local Ray instance")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads per job of an --out scan (default 1)")] = None,
    group_size: Annotated[int | None, typer.Option(help="matrices per job of an --out scan (default 8)")] = None,
    retries: Annotated[int | None, typer.Option(help="resubmissions of a failed Ray task (default 2)")] = None,
) -> None:
    """Count intruder dimensions of TUNED against BASE, per matrix and for the whole model (or of many TUNED)."""
    from lorascope.display import print_scan, print_warnings, run_with_progress, summary_line
    from lorascope.pipelines.scan import ScanOptions
    from lorascope.pipelines.scan import scan as run_scan

    opts = ScanOptions(k=k, epsilon=epsilon, epsilons=_floats(epsilons, "--epsilons"),
                       k_fractions=_floats(k_fractions, "--k-fractions"), map_size=map_size,
                       include=tuple(include or ()), exclude=tuple(exclude or ()), allow_missing=allow_missing,
                       allow_pickle=allow_pickle, solver=solver, update_stats=update_stats, cache=cache,
                       cache_dir=cache_dir,
                       workers=workers, device=device)
    many = (out_dir, executor, address, threads, group_size, retries)
    if len(tuned) != 1 or any(flag is not None for flag in many):
        from lorascope.commands.multi_scan import scan_many

        scan_many(base, tuned, opts, out_dir=out_dir, executor=executor, address=address, threads=threads,
                  group_size=group_size, retries=retries, json_path=json_path, quiet=quiet, out=out, err=err)
        return
    if json_path is not None:
        _check_writable(json_path)
    result = run_with_progress(lambda progress: run_scan(base, tuned[0], opts, progress=progress),
                               quiet=quiet, console=err)
    if json_path is not None:
        result.save_json(json_path)
    print_warnings(result.warnings, err)
    if quiet:
        out.print(summary_line(result))
    else:
        print_scan(result, out, max_rows)


@app.command()
def demo(
    cache_dir: Annotated[Path | None, typer.Option(help="where the demo's fine-tunes are kept")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="write both scans as JSON here")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Fine-tune a real model (all-MiniLM-L6-v2) on real reviews with LoRA and fully, then scan both."""
    from lorascope.pipelines.demo import run_demo

    run_demo(cache_dir=cache_dir, json_path=json_path, console=out, quiet=quiet)


def _register_commands() -> None:
    """Commands whose skins live in lorascope.commands (each imports its pipeline lazily)."""
    from lorascope.commands.forget import forget_command
    from lorascope.commands.index import index
    from lorascope.commands.report import report
    from lorascope.commands.reproduce import reproduce_command
    from lorascope.commands.run import run_command
    from lorascope.commands.scale import scale as scale_command
    from lorascope.commands.train import train_command

    app.command("index")(index)
    app.command("scale")(scale_command)
    app.command("train")(train_command)
    app.command("forget")(forget_command)
    app.command("report")(report)
    app.command("run")(run_command)
    app.command("reproduce")(reproduce_command)


_register_commands()


def _check_writable(path: Path) -> None:
    """Fail before the work, not after it, when the output cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"--json {path}: is a directory")
    if not parent.is_dir():
        raise InputError(f"--json {path}: directory {parent} does not exist")


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app; a LorascopeError becomes one line on stderr and exit status 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, prog_name="lorascope", standalone_mode=False)
    except LorascopeError as e:
        if debug:
            traceback.print_exc()
        err.print(f"lorascope: error: {e}", markup=False, highlight=False, soft_wrap=True)
        return 2
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        err.print("lorascope: aborted", markup=False)
        return 130
    except click.ClickException as e:
        e.show()
        return 2
    except KeyboardInterrupt:
        err.print("lorascope: interrupted", markup=False)
        return 130
    except Exception as e:  # a bug, not bad input: still one line unless --debug
        if debug:
            raise
        err.print(f"lorascope: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)",
                  markup=False, highlight=False, soft_wrap=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
