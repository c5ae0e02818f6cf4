"""The `lorascope` command: exit codes, one-line errors, nothing written on failure, JSON on success."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from peft import LoraConfig

from fixtures import models
from lorascope.cli import main


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    model = models.build("llama")
    models.save_model(model, root / "base")
    art = models.make_adapter(model, root / "adapter", LoraConfig(r=2, target_modules=["q_proj", "down_proj"]))
    return root / "base", art.path


def test_scan_prints_table_and_writes_json(pair, tmp_path, capsys):
    base, adapter = pair
    out = tmp_path / "scan.json"
    assert main(["scan", str(base), str(adapter), "--k", "3", "--json", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "intruder dimensions in 4 matrices" in printed
    data = json.loads(out.read_text())
    assert data["k"] == 3 and data["tuned_kind"] == "adapter" and len(data["matrices"]) == 4


def test_full_table_has_rollups(pair, capsys):
    base, adapter = pair
    assert main(["scan", str(base), str(adapter), "--k", "2"]) == 0
    printed = capsys.readouterr().out
    for title in ["By module type", "By layer depth", "Model total vs ε", "self_attn.q_proj", "mlp.down_proj"]:
        assert title in printed


@pytest.mark.parametrize("args, needle", [
    (["--epsilon", "1.5"], "epsilon must be in (0, 1]"),
    (["--epsilon", "0"], "epsilon must be in (0, 1]"),
    (["--k", "0"], "k must be"),
    (["--k", "100000"], "is larger than the matrix"),
    (["--epsilons", "0.2,x"], "--epsilons"),
])
def test_bad_options_fail_with_one_line(pair, tmp_path, capsys, args, needle):
    base, adapter = pair
    out = tmp_path / "scan.json"
    code = main(["scan", str(base), str(adapter), "--json", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err
    assert "Traceback" not in err
    assert not out.exists()


def test_missing_input_names_the_path(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["scan", str(missing), str(missing), "--json", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_console_script_one_line_error_and_debug_traceback(tmp_path):
    """The installed entry point, in a real process: one stderr line; --debug adds the traceback."""
    missing = str(tmp_path / "missing")
    plain = subprocess.run([sys.executable, "-m", "lorascope.cli", "scan", missing, missing],
                           capture_output=True, text=True)
    assert plain.returncode == 2
    lines = [x for x in plain.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("lorascope: error:") and missing in lines[0]
    debug = subprocess.run([sys.executable, "-m", "lorascope.cli", "--debug", "scan", missing, missing],
                           capture_output=True, text=True)
    assert debug.returncode == 2 and "Traceback" in debug.stderr
