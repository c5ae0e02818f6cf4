"""Several λ from one pass, the output folder rules, bad options, and the CLI command."""

from __future__ import annotations

import json
import math

import pytest
import typer
from typer.testing import CliRunner

import lorascope.pipelines.scale as scale_module
from lorascope.commands.scale import scale as scale_command
from lorascope.errors import InputError
from lorascope.pipelines.scale import neighbour_index, scale

from .conftest import peft_merged, rel_err


def test_several_lambdas_one_pass(llama, llama_dir, llama_lora, tmp_path, monkeypatch):
    calls = []
    real = scale_module.analyse_pair
    monkeypatch.setattr(
        scale_module, "analyse_pair", lambda pair, *args: calls.append(pair.name) or real(pair, *args)
    )
    result = scale(llama_dir, llama_lora.path, tmp_path / "out", "0.3,0.5,1")
    assert len(calls) == len(set(calls)) == len(result.matrices) + len(result.untouched)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["lambda-0.3", "lambda-0.5", "lambda-1.0", "scale.json"]
    report = json.loads((out / "scale.json").read_text())
    assert [o["lambda"] for o in report["outputs"]] == [0.3, 0.5, 1.0]
    assert (out / "lambda-1.0" / "adapter_model.safetensors").read_bytes() == (
        llama_lora.path / "adapter_model.safetensors"
    ).read_bytes()
    a, b = peft_merged(llama, out / "lambda-0.3"), peft_merged(llama, out / "lambda-0.5")
    for sm in result.matrices:
        u, v = sm.U[:, 0], sm.V[:, 0]
        assert abs(float(u @ a[sm.name].double() @ v) - 0.3 * sm.sigmas[0]) < 1e-5 * sm.sigmas[0]
        assert abs(float(u @ b[sm.name].double() @ v) - 0.5 * sm.sigmas[0]) < 1e-5 * sm.sigmas[0]
        assert rel_err(a[sm.name], b[sm.name]) > 0


def test_non_empty_out_needs_force(llama_dir, llama_lora, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(InputError, match="not empty"):
        scale(llama_dir, llama_lora.path, out, 0.5)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    scale(llama_dir, llama_lora.path, out, 0.5, force=True)
    assert not (out / "keep.txt").exists() and (out / "scale.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp or old folder left beside it


def test_empty_out_folder_is_used(llama_dir, llama_lora, tmp_path):
    (tmp_path / "out").mkdir()
    scale(llama_dir, llama_lora.path, tmp_path / "out", 0.5)
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize(
    ("lambdas", "options", "needle"),
    [
        (-0.5, {}, "--lambda"),
        (math.nan, {}, "--lambda"),
        ("0.5,0.5", {}, "repeated"),
        ("a,b", {}, "--lambda"),
        ("", {}, "--lambda"),
        (0.5, {"target": "biggest"}, "target"),
        (0.5, {"k": 0}, "k must"),
        (0.5, {"k": 1000}, "larger than the matrix"),
        (0.5, {"epsilon": 1.5}, "epsilon"),
        (0.5, {"colour": 1}, "unknown scale option"),
        (0.5, {"include": ("nothing-matches",)}, "--include"),
    ],
)
def test_bad_options_write_nothing(llama_dir, llama_lora, tmp_path, lambdas, options, needle):
    with pytest.raises(InputError, match=needle):
        scale(llama_dir, llama_lora.path, tmp_path / "out", lambdas, **options)
    assert list(tmp_path.iterdir()) == []


def test_out_must_not_overlap_inputs(llama_dir, llama_lora, tmp_path):
    for out in (llama_lora.path, llama_lora.path / "inside", llama_dir.parent):
        with pytest.raises(InputError, match="overlaps"):
            scale(llama_dir, llama_lora.path, out, 0.5, force=True)
    with pytest.raises(InputError, match="parent folder"):
        scale(llama_dir, llama_lora.path, tmp_path / "missing" / "out", 0.5)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        scale(llama_dir, llama_lora.path, tmp_path / "file", 0.5, force=True)


def test_missing_inputs_are_input_errors(llama_dir, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        scale(llama_dir, tmp_path / "nope", tmp_path / "out", 0.5)
    assert not (tmp_path / "out").exists()


def test_failed_write_leaves_nothing(llama_dir, llama_lora, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(scale_module, "write_adapter_changes", boom)
    with pytest.raises(InputError, match="--out .*disk full"):  # the raw OSError is named after --out
        scale(llama_dir, llama_lora.path, tmp_path / "out", 0.5)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("first", "flags", "want"),
    [
        (2, [False, False, True, False], 3),
        (2, [False, False, True, True], 1),
        (0, [True, False, True], 1),
        (0, [True, True, True, False], 3),
        (0, [True, True, True], None),
    ],
)
def test_neighbour_rule(first, flags, want):
    assert neighbour_index(first, flags) == want


def test_cli_command(llama_dir, llama_lora, tmp_path):
    app = typer.Typer()
    app.command()(scale_command)
    app.command("other")(lambda: None)  # two commands, so the first argument is the command name
    runner = CliRunner()
    args = [
        "scale",
        str(llama_dir),
        str(llama_lora.path),
        "--lambda",
        "0.5,0.9",
        "--out",
        str(tmp_path / "o"),
        "--target",
        "all-intruders",
        "-q",
    ]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "all-intruders: changed" in done.output and (tmp_path / "o" / "lambda-0.9").is_dir()
    again = runner.invoke(app, args)
    assert isinstance(again.exception, InputError) and "not empty" in str(again.exception)


def test_base_index_is_filled_and_changes_no_decision(llama_dir, llama_lora, tmp_path):
    cached = scale(llama_dir, llama_lora.path, tmp_path / "a", 0.5, cache_dir=tmp_path / "index")
    assert any(p.is_file() for p in (tmp_path / "index").rglob("*"))
    again = scale(llama_dir, llama_lora.path, tmp_path / "b", 0.5, cache_dir=tmp_path / "index")
    plain = scale(llama_dir, llama_lora.path, tmp_path / "c", 0.5, cache=False)
    for a, b, c in zip(cached.matrices, again.matrices, plain.matrices, strict=True):
        assert a.name == b.name == c.name and a.indices == b.indices == c.indices
        assert abs(a.sigmas[0] - c.sigmas[0]) < 1e-9 * c.sigmas[0]
        assert abs(a.max_cos[0] - c.max_cos[0]) < 1e-5
