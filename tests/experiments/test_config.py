"""Experiment files: every shipped file parses at every profile; bad files fail naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorascope.cli import main
from lorascope.commands.run import parse_sets
from lorascope.errors import InputError
from lorascope.experiments.config import type_ok
from lorascope.experiments.ledger import Ledger, job_key
from lorascope.recipes import RECIPES, load_experiment

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
FILES = sorted(EXPERIMENTS.glob("*.toml"))


def test_every_recipe_has_a_file():
    assert sorted(p.stem for p in FILES) == sorted(RECIPES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("profile", [None, "quick", "full"])
def test_shipped_files_parse(path, profile):
    exp = load_experiment(path, profile)
    assert exp.recipe == path.stem
    assert set(exp.profiles) >= {"quick", "full"}
    exp.train_config()  # the shared settings form a valid TrainConfig


def test_continual_full_profile_has_four_real_tasks():
    from lorascope.training.registry import TASKS

    tasks = load_experiment(EXPERIMENTS / "continual.toml", "full").grid.tasks
    assert len(tasks) >= 4 and set(tasks) <= set(TASKS)


def test_profile_overrides_key_by_key():
    base = load_experiment(EXPERIMENTS / "rank_sweep.toml")
    quick = load_experiment(EXPERIMENTS / "rank_sweep.toml", "quick")
    assert quick.grid.ranks == [8] and base.grid.ranks == [1, 2, 4, 8, 16, 64]
    assert quick.train["max_steps"] == 60 and quick.train["batch_size"] == base.train["batch_size"]
    assert load_experiment(EXPERIMENTS / "rank_sweep.toml", "quick", {"grid": {"ranks": [4]}}).grid.ranks == [4]


PER_MODEL = """recipe = "rank_sweep"
[train]
model = "smollm2"
[grid]
lr_products = [0.1]
[profile.quick.grid]
lr_products = [0.2]
full_lrs = [1e-4]
[profile.quick.model."gemma3-270m".grid]
lr_products = [0.08]
"""


def test_a_profile_can_change_settings_for_one_model(tmp_path):
    path = write(tmp_path, PER_MODEL)
    assert load_experiment(path, "quick").grid.lr_products == [0.2]  # the file's model: smollm2
    gemma = load_experiment(path, "quick", {"train": {"model": "gemma3-270m"}})
    assert gemma.grid.lr_products == [0.08] and gemma.grid.full_lrs == [1e-4]  # the rest of the profile holds
    assert load_experiment(path, None, {"train": {"model": "gemma3-270m"}}).grid.lr_products == [0.1]
    # an explicit override still wins over the model's table
    assert load_experiment(path, "quick", {"train": {"model": "gemma3-270m"},
                                           "grid": {"lr_products": [0.3]}}).grid.lr_products == [0.3]


def test_a_bad_per_model_table_names_its_key(tmp_path):
    path = write(tmp_path, PER_MODEL + 'rnaks = [1]\n')
    with pytest.raises(InputError, match='profile.quick.model."gemma3-270m".grid.rnaks|grid.rnaks'):
        load_experiment(path, "quick", {"train": {"model": "gemma3-270m"}})
    path = write(tmp_path, PER_MODEL.replace('.grid]\nlr_products = [0.08]', '.trian]\nx = 1'))
    with pytest.raises(InputError, match='profile.quick.model."gemma3-270m".trian'):
        load_experiment(path, "quick", {"train": {"model": "gemma3-270m"}})


def test_gemma_quick_profile_keeps_the_shared_runs_shared():
    """On gemma3-270m the quick files change LoRA's learning rate together, so the recipes still share runs."""
    from lorascope.pipelines.train import run_id_of

    over = {"train": {"model": "gemma3-270m"}}
    rank = load_experiment(EXPERIMENTS / "rank_sweep.toml", "quick", over)
    lr = load_experiment(EXPERIMENTS / "lr_sweep.toml", "quick", over)
    inter = load_experiment(EXPERIMENTS / "intervention.toml", "quick", over)
    lora = [rank.train_config(task="rt_polarity", method="lora", rank=8, alpha=16.0, lr=None, lora_lr_product=p)
            for p in rank.grid.lr_products]
    swept = {run_id_of(lr.train_config(task="rt_polarity", method="lora", rank=8, lr=x)) for x in lr.grid.lora_lrs}
    scaled = {run_id_of(inter.train_config(task="rt_polarity", method="lora", rank=8, alpha=16.0, lr=x))
              for x in inter.grid.lora_lrs}
    assert {run_id_of(c) for c in lora} == scaled and scaled <= swept
    assert "gemma3-270m" in next(iter(scaled))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, profile, named", [
    ('recipe = "rank_sweep"\n[train]\nbatch_sise = 8\n', None, "train.batch_sise"),
    ('recipe = "rank_sweep"\n[train]\nbatch_size = "8"\n', None, "train.batch_size"),
    ('recipe = "rank_sweep"\n[train]\nfreeze_a = 1\n', None, "train.freeze_a"),
    ('recipe = "rank_sweep"\n[grid]\nranks = [1, "8"]\n', None, "grid.ranks"),
    ('recipe = "rank_sweep"\n[grid]\nalphas = ["3r"]\n', None, "alphas"),
    ('recipe = "rank_sweep"\n[analysis]\nepsilon = 1.5\n', None, "epsilon"),
    ('recipe = "rank_sweep"\n[analysis]\nk = 2.5\n', None, "analysis.k"),
    ('recipe = "rank_sweep"\n[train]\nmethod = "prefix"\n', None, "method"),
    ('recipe = "lr_sweep"\n[grid]\nranks = [8]\n', None, "grid.ranks"),
    ('recipe = "intervention"\n[grid]\ntargets = ["everything"]\n', None, "targets"),
    ('recipe = "rank_sweep"\n[profile.quick.grid]\nrank = 3\n', "quick", "grid.rank"),
    ('recipe = "rank_sweep"\n[profile.quick]\ntrian = {}\n', "quick", "profile.quick.trian"),
    ('recipe = "rank_sweep"\n', "quick", "profile.quick"),
    ('recipe = "rank_sweeps"\n', None, "rank_sweeps"),
    ('recipes = "rank_sweep"\n', None, "recipes"),
    ('recipe = "rank_sweep"\n[train\n', None, "not valid TOML"),
])
def test_bad_file_names_file_and_key(tmp_path, text, profile, named):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_experiment(path, profile)
    assert str(path) in str(err.value) and named in str(err.value)


def test_cli_bad_file_is_one_line_exit_2(tmp_path, capsys):
    path = write(tmp_path, 'recipe = "seeds"\n[grid]\nseeds = [0, 1.5]\n')
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err and "grid.seeds" in err
    assert not (tmp_path / "out").exists()


def test_set_values_are_toml_or_strings():
    assert parse_sets(["train.lr=1e-3", "grid.ranks=[1, 2]", "train.model=/a/b", "train.cache_bottom=false"]) == {
        "train": {"lr": 1e-3, "model": "/a/b", "cache_bottom": False}, "grid": {"ranks": [1, 2]}}
    with pytest.raises(InputError, match="SECTION.KEY=VALUE"):
        parse_sets(["lr=1"])


def test_type_ok():
    assert type_ok(3, float) and not type_ok(True, int) and not type_ok(3.0, int)
    assert type_ok([1, 2.5], list[float]) and not type_ok([1, "a"], list[float])
    assert type_ok("2r", str | float) and type_ok(8, str | float) and not type_ok(None, int)


def test_ledger_records_and_keys(tmp_path):
    ledger = Ledger(tmp_path)
    key = job_key("train", {"a": 1, "b": [1, 2]})
    assert key == job_key("train", {"b": [1, 2], "a": 1}) != job_key("train", {"a": 2, "b": [1, 2]})
    assert key != job_key("scale", {"a": 1, "b": [1, 2]})
    assert ledger.get(key) is None
    ledger.put(key, {"a": 1}, {"runs": [{"x": 1.5}]})
    assert ledger.get(key) == {"runs": [{"x": 1.5}]} and ledger.keys() == [key]
    (ledger.dir / f"{key}.json").write_text("{broken")
    with pytest.raises(InputError, match=key):
        ledger.get(key)


def test_unknown_executor_fails_before_any_work(tmp_path):
    from lorascope.recipes.run import run_experiment

    with pytest.raises(InputError, match="--executor"):
        run_experiment(EXPERIMENTS / "seeds.toml", "quick", tmp_path / "out", executor="dask")
    assert not (tmp_path / "out").exists()


def test_overrides_are_checked_like_the_file(tmp_path):
    with pytest.raises(InputError, match="train.rnak"):
        load_experiment(EXPERIMENTS / "seeds.toml", "quick", {"train": {"rnak": 2}})
    with pytest.raises(InputError, match="override trian"):
        load_experiment(EXPERIMENTS / "seeds.toml", "quick", {"trian": {"rank": 2}})


def test_bad_grid_value_fails_before_any_write(tmp_path):
    from lorascope.recipes.run import run_experiment

    with pytest.raises(InputError, match="rank"):
        run_experiment(EXPERIMENTS / "rank_sweep.toml", "quick", tmp_path / "out", overrides={"grid": {"ranks": [0]}})
    assert not (tmp_path / "out").exists()
