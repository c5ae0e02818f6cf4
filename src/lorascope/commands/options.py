"""Typer options read from the options dataclasses, so each flag's help and default are written once.

A command declares `k: int = option(ScanOptions, "k")`: the default and the `metadata={"help": ...}` of
the field `ScanOptions.k` become the flag `--k`. Flags that are not a field (`--json`, `--quiet`, ...)
stay plain `typer.Option`s in the command. `options_from(ScanOptions, locals())` builds the dataclass back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, Field, fields
from typing import Any, TypeVar

import typer

T = TypeVar("T")


def option(cls: type, name: str, *flags: str, **settings: Any) -> Any:
    """`typer.Option` for field `name` of dataclass `cls`: its default (tuples as the CLI's text) and its help.

    `flags` name the option (default: `--name-with-dashes`); `settings` pass on to `typer.Option`.
    """
    f = _field(cls, name)
    return typer.Option(cli_default(f.default), *flags, help=f.metadata["help"], **settings)


def option_unset(cls: type, name: str, *flags: str, **settings: Any) -> Any:
    """As `option`, but the flag defaults to None ("not given") and its help names the field's default.

    For flags whose presence changes what a command does (e.g. scan's multi-input flags).
    """
    f = _field(cls, name)
    return typer.Option(None, *flags, help=f"{f.metadata['help']} (default {cli_default(f.default)})", **settings)


def options_from(cls: type[T], params: Mapping[str, Any], **overrides: Any) -> T:
    """`cls` built from a command's parameters that are its fields (call with `locals()`), then `overrides`.

    The inverse of `option`: a repeated option's list becomes a tuple, and None (not given) leaves the
    field's default.
    """
    names = {f.name for f in fields(cls)}
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items() if k in names and v is not None}
    return cls(**{**given, **overrides})


def cli_default(value: Any) -> Any:
    """A field default as the CLI writes it: an empty tuple is an unrepeated option (None), a tuple of
    values is their comma-separated text, anything else is itself."""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) if value else None
    return value


def _field(cls: type, name: str) -> Field:
    found = {f.name: f for f in fields(cls)}.get(name)
    if found is None:
        raise TypeError(f"{cls.__name__} has no field {name!r}")
    if found.default is MISSING or "help" not in found.metadata:
        raise TypeError(f"{cls.__name__}.{name} needs a default and metadata={{'help': ...}} to be a CLI option")
    return found
