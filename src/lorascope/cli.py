"""The `lorascope` command: assembles the Typer app from lorascope.commands and maps errors to exit codes."""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

import click
import typer
from rich.console import Console

from lorascope.errors import LorascopeError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="How fine-tuning changed a pretrained model, through the spectra of its weight matrices.")
err = Console(stderr=True)


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks on errors")] = False) -> None:
    """Options before the command apply to every command."""


def _register_commands() -> None:
    """Every command lives in lorascope.commands, one module each; the app lists them in this order."""
    from lorascope.commands.demo import demo
    from lorascope.commands.forget import forget_command
    from lorascope.commands.index import index
    from lorascope.commands.repair import repair
    from lorascope.commands.report import report
    from lorascope.commands.reproduce import reproduce_command
    from lorascope.commands.run import run_command
    from lorascope.commands.scale import scale as scale_command
    from lorascope.commands.scan import scan
    from lorascope.commands.train import train_command

    app.command("scan")(scan)
    app.command("demo")(demo)
    app.command("index")(index)
    app.command("scale")(scale_command)
    app.command("repair")(repair)
    app.command("train")(train_command)
    app.command("forget")(forget_command)
    app.command("report")(report)
    app.command("run")(run_command)
    app.command("reproduce")(reproduce_command)


_register_commands()


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
