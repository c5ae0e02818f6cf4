"""The paper's experiments, one short module each: a `Grid` dataclass (the [grid] section), `FIGURES`
(which tables hold each figure's data) and `run(ctx) -> {table: rows}`."""

from __future__ import annotations

import importlib
from types import ModuleType

from lorascope.errors import InputError

RECIPES = ("rank_sweep", "lr_sweep", "intervention", "continual", "only_b", "seeds")


def recipe_module(name: str, where: str = "recipe") -> ModuleType:
    """The module of recipe `name`; InputError naming `where` for an unknown one."""
    if name not in RECIPES:
        raise InputError(f"{where} {name!r} is not a recipe; known: {', '.join(RECIPES)}")
    return importlib.import_module(f"lorascope.recipes.{name}")


def grid_class(name: str, where: str = "recipe") -> type:
    """The Grid dataclass of recipe `name`."""
    return recipe_module(name, where).Grid
