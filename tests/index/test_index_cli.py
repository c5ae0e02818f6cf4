"""`lorascope index` (the Typer command) and the new `lorascope scan` flags."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from index.builders import entry_dirs, small_model
from lorascope.cli import main
from lorascope.commands.index import index


def _index_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(index)
    app.command("noop")(lambda: None)  # two commands, so "index" is addressed by name as under `lorascope`
    return app


def test_index_command_builds_then_finds_then_rebuilds_with_full_hash(tmp_path):
    model = small_model(tmp_path)
    cache = tmp_path / "cache"
    runner = CliRunner()
    first = runner.invoke(_index_app(), ["index", str(model.base), "--cache-dir", str(cache), "-q"])
    assert first.exit_code == 0, first.output
    assert "2 built, 0 already present, 0 rebuilt" in first.output
    assert len(entry_dirs(cache)) == 2
    meta = entry_dirs(cache)[0] / "meta.json"
    data = json.loads(meta.read_text())
    data["source_sha256"] = "f" * 64
    meta.write_text(json.dumps(data))
    second = runner.invoke(_index_app(), ["index", str(model.base), "--cache-dir", str(cache), "-q", "--workers", "2"])
    assert "0 built, 2 already present, 0 rebuilt" in second.output
    third = runner.invoke(_index_app(), ["index", str(model.base), "--cache-dir", str(cache), "-q", "--full-hash"])
    assert third.exit_code == 0, third.output
    assert "0 built, 1 already present, 1 rebuilt" in third.output
    only_attn = runner.invoke(_index_app(), ["index", str(model.base), "--cache-dir", str(tmp_path / "c2"), "-q",
                                             "--include", "q_proj"])
    assert "1 built" in only_attn.output and len(entry_dirs(tmp_path / "c2")) == 1


def test_scan_flags_cache_dir_no_cache_workers_device(tmp_path, capsys):
    model = small_model(tmp_path)
    cache = tmp_path / "cache"
    outs = []
    for flags in (["--cache-dir", str(cache)], ["--cache-dir", str(cache), "--workers", "2"], ["--no-cache"],
                  ["--device", "cpu", "--no-cache"]):
        out = tmp_path / f"scan{len(outs)}.json"
        assert main(["scan", str(model.base), str(model.adapter), "-q", "--json", str(out), *flags]) == 0
        data = json.loads(out.read_text())
        data.pop("seconds")
        outs.append(data)
    assert all(o == outs[0] for o in outs)
    assert len(entry_dirs(cache)) == 2
    capsys.readouterr()
    assert main(["scan", str(model.base), str(model.adapter), "-q", "--device", "nonsense"]) == 2
    assert "device" in capsys.readouterr().err
