"""The paper's experiments, one short module each (`RECIPES`): a `Grid` dataclass (the [grid] section),
`FIGURES` (which tables hold each figure's data) and `run(ctx) -> {table: rows}`.

Beside them, what needs to know the recipes: `run.py` runs one experiment file through its recipe
(`lorascope run`), `reproduce.py` runs the recipes behind the paper's claims and writes the report
(`lorascope reproduce`)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from lorascope.errors import InputError
from lorascope.experiments import config

RECIPES = ("rank_sweep", "lr_sweep", "intervention", "continual", "only_b", "seeds", "data_size")


def recipe_module(name: str, where: str = "recipe") -> ModuleType:
    """The module of recipe `name`; InputError naming `where` for an unknown one."""
    if name not in RECIPES:
        raise InputError(f"{where} {name!r} is not a recipe; known: {', '.join(RECIPES)}")
    return importlib.import_module(f"lorascope.recipes.{name}")


def grid_class(name: str, where: str = "recipe") -> type:
    """The Grid dataclass of recipe `name`."""
    return recipe_module(name, where).Grid


def load_experiment(path: str | Path, profile: str | None = None,
                    overrides: dict[str, dict[str, Any]] | None = None) -> config.Experiment:
    """The experiment file at `path`, checked and resolved, its [grid] read into its recipe's Grid."""
    return config.load_experiment(path, profile, overrides, grid_of=grid_class)
