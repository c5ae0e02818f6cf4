"""CLI flags read their default and help from the options dataclasses, and build the same dataclass back."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import typer

from lorascope.cli import app
from lorascope.commands.options import option, options_from
from lorascope.pipelines.index import IndexOptions
from lorascope.pipelines.scale import ScaleOptions
from lorascope.pipelines.scan import ScanOptions
from lorascope.training.config import TrainConfig

COMMANDS = typer.main.get_command(app).commands


def _defaults(command: str) -> dict:
    return {p.name: p.default for p in COMMANDS[command].params}


def test_every_flag_has_help():
    missing = [f"{name} {p.opts[0]}" for name, c in COMMANDS.items() for p in c.params
               if p.param_type_name == "option" and not getattr(p, "help", None)]
    assert missing == ["demo --quiet"]  # the one flag documented by its name alone


@pytest.mark.parametrize(("command", "cls"), [("scan", ScanOptions), ("scale", ScaleOptions),
                                              ("index", IndexOptions), ("train", TrainConfig)])
def test_command_defaults_build_the_dataclass_defaults(command, cls):
    given = _defaults(command)
    extra = {"epsilons": ScanOptions().epsilons} if cls is ScanOptions else {}
    assert options_from(cls, given, **extra) == cls()


def test_help_comes_from_the_field():
    helps = {p.name: p.help for p in COMMANDS["scan"].params}
    assert helps["epsilon"] == ScanOptions.__dataclass_fields__["epsilon"].metadata["help"]
    assert _defaults("scan")["epsilons"] == ",".join(str(e) for e in ScanOptions().epsilons)


def test_a_field_without_help_is_no_option():
    @dataclass(frozen=True)
    class Bare:
        size: int = 1
        named: int = field(default=2, metadata={"help": "documented"})

    assert option(Bare, "named").help == "documented"
    with pytest.raises(TypeError, match="metadata"):
        option(Bare, "size")
    with pytest.raises(TypeError, match="no field"):
        option(Bare, "absent")
    assert options_from(Bare, {"named": None, "size": [3], "other": 4}) == Bare(size=(3,))
