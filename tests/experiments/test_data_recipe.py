"""Recipes on the user's own data: a `[data]` table instead of registered tasks (parsed, checked, and run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lorascope.errors import InputError
from lorascope.experiments.tables import read_table
from lorascope.recipes import load_experiment
from lorascope.recipes.run import run_experiment

LINES = [f"the {a} cat saw the {b} dog." for a in ("red", "blue", "cold", "warm") for b in ("soft", "loud", "dark")]


def experiment(tmp_path: Path, data: str, grid: str = "", recipe: str = "intervention") -> Path:
    (tmp_path / "texts").mkdir(exist_ok=True)
    (tmp_path / "texts" / "stories.jsonl").write_text("".join(json.dumps({"body": t}) + "\n" for t in LINES * 3))
    (tmp_path / "texts" / "forget.txt").write_text("markets fell on tuesday.\nrain is expected later.\n")
    path = tmp_path / "exp.toml"
    path.write_text(f'recipe = "{recipe}"\n[train]\nforget_text = "texts/forget.txt"\n'
                    f"[data]\n{data}\n[grid]\n{grid}\n")
    return path


def test_data_table_parses_into_the_train_settings(tmp_path):
    path = experiment(tmp_path, 'train = "texts/stories.jsonl"\ntext_column = "body"\nobjective = "lm"\n'
                                "test_fraction = 0.25")
    exp = load_experiment(path)
    assert exp.data.train == str(tmp_path / "texts" / "stories.jsonl") and exp.grid.tasks == ["stories"]
    config = exp.train_config(task="stories")
    assert config.objective == "lm" and config.text_column == "body" and config.test_fraction == 0.25
    assert config.task_name == "stories" and config.forget_text == str(tmp_path / "texts" / "forget.txt")


@pytest.mark.parametrize(("data", "grid", "recipe", "needle"), [
    ('train = "texts/stories.jsonl"\ncolumns = "body"', "", "intervention", "unknown key 'data.columns'"),
    ('train = "texts/stories.jsonl"', 'tasks = ["rt_polarity"]', "intervention", "[data] and grid.tasks"),
    ('train = "texts/stories.jsonl"', "", "continual", "takes no [data]"),
    ('train = "texts/stories.jsonl"\nobjective = "regress"', "", "rank_sweep", "'data.objective' must be"),
    ('test = "texts/stories.jsonl"', "", "rank_sweep", "[data] needs key 'train'"),
    ('train = "texts/stories.jsonl"\ntest_fraction = 2', "", "rank_sweep", "test_fraction must be in (0, 1)"),
])
def test_bad_data_tables_name_the_file_and_key(tmp_path, data, grid, recipe, needle):
    path = experiment(tmp_path, data, grid, recipe)
    with pytest.raises(InputError) as caught:
        load_experiment(path)
    assert str(path) in str(caught.value) and needle in str(caught.value)


def test_intervention_on_a_causal_lm_task(tmp_path, tiny_llama, cache_dir):
    """The lm objective through the intervention recipe: task loss is the quality, λ = 1 is the trained model."""
    path = experiment(tmp_path, 'train = "texts/stories.jsonl"\ntext_column = "body"\nobjective = "lm"',
                      'ranks = [4]\nlora_lrs = [3e-2]\nlambdas = [0.0, 1.0]\ntargets = ["whole-update"]')
    overrides = {"train": {"model": str(tiny_llama), "train_layers": "top:2", "max_length": 32, "max_steps": 8,
                           "batch_size": 8, "forget_chunks": 1, "forget_context": 8}}
    result = run_experiment(path, None, tmp_path / "out", overrides=overrides, cache_dir=cache_dir)
    run = read_table(result.table_path("runs"))[0]
    assert run["task"] == "stories" and run["quality_metric"] == "task_loss" and run["accuracy"] is None
    rows = read_table(result.table_path("intervention"))
    assert {r["lambda"] for r in rows} == {0.0, 1.0}
    for r in rows:
        assert r["quality_metric"] == "task_loss" and r["reference_task_loss"] == pytest.approx(run["task_loss"])
        assert r["reference_lm_loss"] == pytest.approx(run["lm_loss"], abs=1e-5)
        if r["lambda"] == 1.0:
            assert r["task_loss"] == pytest.approx(run["task_loss"], abs=1e-5)
            assert r["task_loss_change_pct"] == pytest.approx(0, abs=1e-3)
        else:  # the whole update removed: the base model, no forgetting, the base's task loss
            assert r["forgetting"] == pytest.approx(0, abs=1e-5) and r["task_loss"] > run["task_loss"]
