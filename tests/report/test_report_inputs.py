"""Inputs: what is recognised, and that any wrong input is one InputError naming the file, with nothing written."""

from __future__ import annotations

import json

import pytest

from lorascope.errors import InputError
from lorascope.report import build_report, load_inputs
from report.conftest import monitor_rows, train_rows, write_jsonl


def _fails(inputs, out, *names: str) -> str:
    with pytest.raises(InputError) as e:
        build_report(inputs, out)
    assert not out.exists()
    message = str(e.value)
    for name in names:
        assert name in message
    assert "\n" not in message
    return message


def _scan(scan_dir) -> dict:
    return json.loads((scan_dir / "lora-r4.json").read_text())


def test_malformed_json_names_the_file(tmp_path):
    bad = tmp_path / "scan.json"
    bad.write_text('{"lorascope_version": "0.1.0", "matrices": [')
    _fails([bad], tmp_path / "r.html", str(bad), "not valid JSON")
    _fails([tmp_path], tmp_path / "r.html", str(bad))  # found in a folder, it is still an error


def test_unknown_file_names_the_file(tmp_path):
    other = tmp_path / "notes.json"
    other.write_text(json.dumps({"hello": 1}))
    _fails([other], tmp_path / "r.html", str(other), "not a lorascope scan")
    text = tmp_path / "x.jsonl"
    write_jsonl(text, [{"a": 1}])
    _fails([text], tmp_path / "r.html", str(text), "not a results.jsonl or monitor JSONL")


def test_wrong_fields_name_the_file_and_matrix(scan_dir, tmp_path):
    raw = _scan(scan_dir)
    raw["matrices"][1]["top"][0]["max_cos"] = "high"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    _fails([bad], tmp_path / "r.html", str(bad), raw["matrices"][1]["name"], "max_cos")
    raw = _scan(scan_dir)
    raw["epsilon_totals"] = raw["epsilon_totals"][:-1]
    bad.write_text(json.dumps(raw))
    _fails([bad], tmp_path / "r.html", str(bad), "epsilon_totals")
    raw = _scan(scan_dir)
    m = next(m for m in raw["matrices"] if m["intruders"])
    m["intruders"] += 1  # disagrees with the flags in 'top': drawing either would mislead
    bad.write_text(json.dumps(raw))
    _fails([bad], tmp_path / "r.html", str(bad), "marked intruder")
    raw = _scan(scan_dir)
    raw["matrices"][0]["similarity"] = [[0.1, 0.2]]
    bad.write_text(json.dumps(raw))
    _fails([bad], tmp_path / "r.html", str(bad), "similarity")


def test_bad_jsonl_rows_name_file_and_line(tmp_path):
    rows = train_rows()
    rows[3]["intruders"] = -2
    path = write_jsonl(tmp_path / "results.jsonl", rows)
    _fails([path], tmp_path / "r.html", f"{path}:4", "intruders")
    path.write_text(json.dumps(train_rows()[0]) + "\n{oops\n")
    _fails([path], tmp_path / "r.html", f"{path}:2", "not valid JSON")
    rows = monitor_rows()
    rows[2]["max_cos"] = rows[2]["max_cos"][:2]
    path = write_jsonl(tmp_path / "mon.jsonl", rows)
    _fails([path], tmp_path / "r.html", f"{path}:3", "max_cos")


def test_a_partly_written_last_line_is_left_out(tmp_path):
    path = write_jsonl(tmp_path / "intruders.jsonl", monitor_rows())
    with path.open("a") as f:
        f.write('{"step": 50, "matrix": "model.layers.0.se')  # the monitor is appending right now
    assert len(load_inputs([path]).monitor_rows) == len(monitor_rows())


def test_missing_paths_empty_folders_and_bad_outputs(scan_dir, tmp_path):
    _fails([tmp_path / "nope.json"], tmp_path / "r.html", "nope.json", "no such file")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "tokenizer.json").write_text('{"model": {}}')
    _fails([tmp_path / "empty"], tmp_path / "r.html", "empty", "no scan JSON")
    _fails([], tmp_path / "r.html", "no input")
    _fails([scan_dir], tmp_path / "missing" / "r.html", "does not exist")
    with pytest.raises(InputError, match="is a directory"):
        build_report([scan_dir], tmp_path)


def test_nothing_to_draw_is_an_error(tmp_path):
    from report.conftest import scale_report

    path = tmp_path / "scale.json"
    path.write_text(json.dumps(scale_report("top-intruder", False)))
    _fails([path], tmp_path / "r.html", "nothing to draw")


def test_folder_skips_other_lorascope_json_but_not_a_broken_scan(scan_dir, tmp_path):
    (tmp_path / "forget.json").write_text(json.dumps({"lorascope_version": "0.1.0", "loss": 3.2}))
    (tmp_path / "lora.json").write_text((scan_dir / "lora-r4.json").read_text())
    assert [s.label for s in load_inputs([tmp_path]).scans] == ["lora"]
    raw = _scan(scan_dir)
    del raw["epsilon_totals"]
    (tmp_path / "old.json").write_text(json.dumps(raw))
    _fails([tmp_path], tmp_path / "r.html", str(tmp_path / "old.json"), "epsilon_totals")


def test_folders_skip_foreign_json_and_dedupe(scan_dir, run_dir, tmp_path):
    inputs = load_inputs([scan_dir, scan_dir / "full.json", run_dir])
    assert [s.label for s in inputs.scans] == ["full", "lora-r4"]
    assert len(inputs.files) == 4  # config.json and adapter_config.json are not inputs
    assert len(inputs.train_rows) == 8 and len(inputs.monitor_rows) == 10


def test_demo_json_gives_one_scan_per_label(scan_dir, tmp_path):
    demo = {"LoRA r=4": {"accuracy": 0.81, "scan": _scan(scan_dir)},
            "full fine-tuning": {"accuracy": 0.83, "scan": json.loads((scan_dir / "full.json").read_text())}}
    (tmp_path / "demo.json").write_text(json.dumps(demo, indent=1))
    inputs = load_inputs([tmp_path])
    assert [(s.label, s.accuracy) for s in inputs.scans] == [("LoRA r=4", 0.81), ("full fine-tuning", 0.83)]


def test_a_label_field_names_the_scan(scan_dir, tmp_path):
    raw = _scan(scan_dir)
    raw["label"] = "LoRA r=4 (MNLI)"
    (tmp_path / "x.json").write_text(json.dumps(raw))
    assert [s.label for s in load_inputs([tmp_path / "x.json"]).scans] == ["LoRA r=4 (MNLI)"]


def test_same_stem_in_two_folders_gets_distinct_labels(scan_dir, tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "scan.json").write_text((scan_dir / "lora-r4.json").read_text())
    assert [s.label for s in load_inputs([tmp_path]).scans] == ["scan", "b/scan"]
