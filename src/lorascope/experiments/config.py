"""An experiment file (experiments/NAME.toml) as typed data: sections checked key by key, profiles applied.

Layout of a file:

    recipe = "rank_sweep"            # which module of lorascope.recipes runs it (and whose Grid [grid] fills)
    description = "..."
    [train]     TrainConfig fields shared by every run of the grid
    [analysis]  AnalysisOptions: what the scans measure
    [grid]      the recipe's own axes (its `Grid` dataclass)
    [data]      optional: the user's own data instead of registered tasks (train, test, test_fraction,
                split_seed, text_column, label_column: lorascope.datafiles.DataSpec; and objective,
                "classify" or "lm"); relative paths are read from the experiment file's folder, and the
                grid's `tasks` becomes the data's name (a file that also sets grid.tasks is refused)
    [profile.NAME.train] / [profile.NAME.analysis] / [profile.NAME.grid]
                key-by-key overrides applied when `--profile NAME` is chosen

Every unknown key and every wrongly typed value is an InputError naming the file and the key.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from lorascope.datafiles import DataSpec
from lorascope.errors import InputError
from lorascope.spectral import DEFAULT_EPSILONS
from lorascope.training.config import LORA_LR_PRODUCT, TrainConfig

SECTIONS = ("train", "analysis", "grid", "data")
DATA_KEYS = (*(f.name for f in dataclasses.fields(DataSpec)), "objective")
TOP_KEYS = ("recipe", "description", "profile", *SECTIONS)


@dataclass(frozen=True)
class AnalysisOptions:
    """What is measured on each finished run (by `scan` on its final checkpoint)."""

    k: int = field(default=10, metadata={"help": "top singular vectors examined per matrix"})
    epsilon: float = field(default=0.5, metadata={"help": "intruder iff max |cos| to the base < epsilon"})
    epsilons: list[float] = field(default_factory=lambda: list(DEFAULT_EPSILONS),
                                  metadata={"help": "ε sweep at k"})
    k_fractions: list[float] = field(default_factory=list, metadata={
        "help": "k as a fraction of all singular vectors, at epsilon (empty: no sweep; needs full SVDs)"})
    map_size: int = field(default=10, metadata={"help": "n of the top-n × top-n similarity maps"})
    scan: bool = field(default=True, metadata={"help": "scan each run's final checkpoint"})

    def __post_init__(self) -> None:
        for name, value in [("epsilon", self.epsilon), *(("epsilons", e) for e in self.epsilons)]:
            if not 0 < value <= 1:
                raise InputError(f"{name} must be in (0, 1]; got {value!r}")
        for value in self.k_fractions:
            if not 0 < value <= 1:
                raise InputError(f"k_fractions must be in (0, 1]; got {value!r}")
        if self.k < 1 or self.map_size < 1:
            raise InputError(f"k and map_size must be ≥ 1; got {self.k!r}, {self.map_size!r}")


@dataclass(frozen=True)
class Experiment:
    """A parsed experiment file at one profile (overrides applied), ready for its recipe."""

    path: Path
    recipe: str
    description: str
    profile: str
    profiles: tuple[str, ...]
    train: dict[str, Any]  # TrainConfig fields shared by every run (validated; [data] folded in)
    analysis: AnalysisOptions
    grid: Any  # the recipe's Grid dataclass instance
    data: DataSpec | None = None  # the [data] table, when the runs train on the user's files

    def train_config(self, **changes: Any) -> TrainConfig:
        """The shared [train] settings with `changes` on top, as a validated TrainConfig."""
        settings = {**self.train, **changes}
        try:
            config = TrainConfig(**settings)
        except InputError as e:
            raise InputError(f"{self.path}: [train] {e}") from e
        # One training, one run id: the resolved alpha and lr, however a recipe spelled them (an lr product or
        # an lr), so recipes sharing a runs folder (reproduce) train a configuration they both need once.
        return dataclasses.replace(config, alpha=config.resolved_alpha, lr=config.resolved_lr,
                                   lora_lr_product=LORA_LR_PRODUCT)


def load_experiment(path: str | Path, profile: str | None, overrides: dict[str, dict[str, Any]] | None, *,
                    grid_of: Callable[[str, str], type]) -> Experiment:
    """Read, check and resolve an experiment file; `overrides` ({section: {key: value}}) win over the profile.

    `grid_of(recipe, where)` is the recipe's Grid dataclass: the recipes layer above passes it in
    (lorascope.recipes.load_experiment), so this layer never imports the recipes."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such experiment file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid TOML ({e})") from e
    _no_unknown(path, "", data, TOP_KEYS)
    recipe = data.get("recipe")
    if not isinstance(recipe, str):
        raise InputError(f"{path}: key 'recipe' must be a string naming a recipe")
    grid_cls = grid_of(recipe, f"{path}: recipe")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise InputError(f"{path}: key 'description' must be a string")
    profiles = data.get("profile", {})
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise InputError(f"{path}: [profile] must hold tables such as [profile.quick.train]")
    sections = {name: copy.deepcopy(_table(path, name, data.get(name, {}))) for name in SECTIONS}
    if profile is not None:
        if profile not in profiles:
            raise InputError(f"{path}: no [profile.{profile}]; profiles: {', '.join(profiles) or 'none'}")
        chosen = profiles[profile]
        _no_unknown(path, f"profile.{profile}.", chosen, (*SECTIONS, "model"))
        _apply(path, f"profile.{profile}", chosen, sections)
        # [profile.P.model."NAME".SECTION]: what this profile changes on one model (the one the overrides name,
        # else the file's), e.g. a learning rate that trains without diverging on that model
        by_model = _table(path, f"profile.{profile}.model", chosen.get("model", {}))
        model = (overrides or {}).get("train", {}).get("model", sections["train"].get("model"))
        if isinstance(model, str) and model in by_model:
            where = f'profile.{profile}.model."{model}"'
            table = _table(path, where, by_model[model])
            _no_unknown(path, where + ".", table, SECTIONS)
            _apply(path, where, table, sections)
    for name, values in (overrides or {}).items():
        if name not in SECTIONS:
            raise InputError(f"override {name}: the section must be one of {', '.join(SECTIONS)}")
        sections[name].update(values)
    data_spec = None
    if sections["data"]:
        data_spec, grid_tasks = _data_section(path, recipe, grid_cls, sections)
    train = _checked(path, "train", sections["train"], TrainConfig)
    if train.get("forget_text") is not None:
        train["forget_text"] = str(_relative_to(path, train["forget_text"]))
    try:
        TrainConfig(**train)
    except InputError as e:
        raise InputError(f"{path}: [train] {e}") from e
    except TypeError as e:  # a required field is missing (TrainConfig has none today)
        raise InputError(f"{path}: [train] {e}") from e
    analysis = _build(path, "analysis", sections["analysis"], AnalysisOptions)
    grid = _build(path, "grid", sections["grid"], grid_cls)
    if data_spec is not None:
        grid = dataclasses.replace(grid, tasks=grid_tasks)
    return Experiment(path=path, recipe=recipe, description=description, profile=profile or "default",
                      profiles=tuple(profiles), train=train, analysis=analysis, grid=grid, data=data_spec)


def _apply(path: Path, where: str, table: dict[str, Any], sections: dict[str, dict[str, Any]]) -> None:
    """Update each section key by key from `table`'s sub-tables (a profile's, or a profile's for one model)."""
    for name in SECTIONS:
        sections[name].update(_table(path, f"{where}.{name}", table.get(name, {})))


def _relative_to(path: Path, file: str) -> Path:
    """`file` as written in the experiment file: relative paths start at the file's folder."""
    given = Path(file).expanduser()
    return given if given.is_absolute() else path.parent / given


def _data_section(path: Path, recipe: str, grid_cls: type,
                  sections: dict[str, dict[str, Any]]) -> tuple[DataSpec, list[str]]:
    """The [data] table as a DataSpec, folded into sections["train"]; the grid's tasks it stands for."""
    table = dict(sections["data"])
    _no_unknown(path, "data.", table, DATA_KEYS)
    if "tasks" in sections["grid"]:
        raise InputError(f"{path}: [data] and grid.tasks both name the task; keep one")
    grid_fields = [f.name for f in dataclasses.fields(grid_cls)]
    if "tasks" not in grid_fields or recipe == "continual":
        raise InputError(f"{path}: recipe {recipe!r} trains on registered tasks only; it takes no [data]")
    objective = table.pop("objective", "classify")
    if objective not in ("classify", "lm"):
        raise InputError(f"{path}: key 'data.objective' must be 'classify' or 'lm'; got {objective!r}")
    if "train" not in table:
        raise InputError(f"{path}: [data] needs key 'train' (the training file)")
    for key in ("train", "test"):
        if isinstance(table.get(key), str):
            table[key] = str(_relative_to(path, table[key]))
    spec = _build(path, "data", table, DataSpec)
    for key, field_name in (("train", "data"), ("test", "test_data"), ("test_fraction", "test_fraction"),
                            ("split_seed", "split_seed"), ("text_column", "text_column"),
                            ("label_column", "label_column")):
        if key in table:
            sections["train"][field_name] = getattr(spec, key)
    sections["train"]["objective"] = objective
    return spec, [spec.name]



def _table(path: Path, name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{path}: [{name}] must be a table")
    return value


def _no_unknown(path: Path, prefix: str, table: dict, known) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise InputError(f"{path}: unknown key '{prefix}{unknown[0]}'; known: {', '.join(known)}")


def _checked(path: Path, section: str, table: dict[str, Any], cls: type) -> dict[str, Any]:
    """`table` after checking every key is a field of `cls` and every value has the field's type."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    _no_unknown(path, f"{section}.", table, names)
    for key, value in table.items():
        if not type_ok(value, hints[key]):
            raise InputError(f"{path}: key '{section}.{key}' must be {_describe(hints[key])}; got {value!r}")
    return dict(table)


def _build(path: Path, section: str, table: dict[str, Any], cls: type):
    values = _checked(path, section, table, cls)
    try:
        return cls(**values)
    except InputError as e:
        raise InputError(f"{path}: [{section}] {e}") from e


def type_ok(value: Any, hint: Any) -> bool:
    """Whether a TOML value fits a type hint (int for float allowed; bool never counts as a number)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(type_ok(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin in (list, tuple):
        item = args[0] if args else Any
        return isinstance(value, list) and all(type_ok(v, item) for v in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return isinstance(value, hint) if isinstance(hint, type) else False


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple):
        return f"a list of {_describe(args[0]) if args else 'values'}"
    if hint is type(None):
        return "absent"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(hint, str(hint))
