"""`repair` end to end on tiny trained adapters: the measurements, the choice, and what is (not) written."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from safetensors.torch import load_file

from lorascope.cli import main
from lorascope.errors import InputError
from lorascope.pipelines.repair import RepairOptions, repair
from lorascope.pipelines.repair_choice import Point, choose_lambda
from lorascope.pipelines.repair_measure import RepairBench
from lorascope.pipelines.scale import scale

LAMS = (0.0, 0.5, 0.9)


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory, base_dir, lm_adapter, files):
    out = tmp_path_factory.mktemp("lm") / "out"
    result = repair(base_dir, lm_adapter, out, files["val"], forget_text=files["forget"], lambdas=LAMS,
                    max_quality_drop=50.0, cache=False)
    return result, out


def test_repair_json_records_every_lambda_and_the_rule(lm_run):
    result, out = lm_run
    doc = json.loads((out / "repair.json").read_text())
    assert doc["objective"] == "lm" and doc["quality_measure"] == "task_loss" and doc["higher_is_better"] is False
    assert [p["lambda"] for p in doc["points"]] == list(LAMS)
    assert doc["unscaled"]["lambda"] == 1.0 and doc["unscaled"]["quality_drop_pct"] == 0.0
    assert "50 %" in doc["rule"] and "rise in task loss" in doc["rule"]
    assert doc["intruder_matrices"] == len(result.matrices) > 0
    assert doc["options"]["lambdas"] == list(LAMS) and doc["forget_text"] == str(result.forget_text)
    # the trained adapter models its task far better than the base
    assert doc["unscaled"]["quality"] < doc["base_quality"] - 0.1
    ref = Point(1.0, doc["unscaled"]["quality"], doc["unscaled"]["forgetting"])
    pts = [Point(p["lambda"], p["quality"], p["forgetting"]) for p in doc["points"]]
    want = choose_lambda(pts, ref, 50.0, higher_is_better=False)
    assert want is not None and doc["chosen_lambda"] == want.lam == result.chosen
    for p in doc["points"]:
        rise = 100 * (p["quality"] - ref.quality) / ref.quality
        assert p["quality_drop_pct"] == pytest.approx(rise)
        assert p["within_budget"] == (rise <= 50.0 and p["forgetting"] < ref.forgetting)
    assert doc["quality_limit"] == pytest.approx(1.5 * ref.quality)
    assert doc["adapter_written"] is True and "report.html" in {p.name for p in out.iterdir()}
    page = (out / "report.html").read_text()
    assert "Repair: quality against forgetting" in page and page.count('class="intr"') == 3  # chosen, 3 panels


def test_written_adapter_equals_scale_at_the_chosen_lambda(lm_run, base_dir, lm_adapter, tmp_path):
    result, out = lm_run
    scaled = scale(base_dir, lm_adapter, tmp_path / "scaled", result.chosen, target="top-intruder", cache=False)
    assert len(scaled.matrices) == len(result.matrices)
    got = load_file(out / "adapter_model.safetensors")
    want = load_file(tmp_path / "scaled" / "adapter_model.safetensors")
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), key
    assert json.loads((out / "adapter_config.json").read_text()) == json.loads(
        (tmp_path / "scaled" / "adapter_config.json").read_text())


def test_in_memory_lambda_matches_the_written_adapter(lm_run, base_dir, files):
    """The adapter on disk, loaded by PEFT, measures what repair measured in memory at the chosen λ."""
    result, out = lm_run
    bench = RepairBench(base_dir, out, files["val"], files["forget"], RepairOptions().text_settings())
    again = bench.measure()
    chosen = next(p for p in result.points if p.lam == result.chosen)
    assert again.quality == pytest.approx(chosen.quality, abs=1e-5)
    assert again.forgetting == pytest.approx(chosen.forgetting, abs=1e-5)
    assert result.unscaled.quality != pytest.approx(chosen.quality, abs=1e-4)  # the change is measurable


def test_over_budget_writes_no_adapter(base_dir, lm_adapter, files, tmp_path):
    # λ = 0.0 removes the top intruder of every matrix: the task loss rises far beyond a 0.01 % budget
    result = repair(base_dir, lm_adapter, tmp_path / "out", files["val"], forget_text=files["forget"],
                    lambdas=(0.0,), max_quality_drop=0.01, cache=False)
    assert result.chosen is None and not result.adapter_written and "no λ" in result.message
    assert result.points[0].quality_drop_pct > 0.01
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["repair.json", "report.html"]
    doc = json.loads((tmp_path / "out" / "repair.json").read_text())
    assert doc["chosen_lambda"] is None and len(doc["points"]) == 1


def test_no_intruder_writes_no_adapter(base_dir, faint_adapter, files, tmp_path):
    result = repair(base_dir, faint_adapter, tmp_path / "out", files["val"], forget_text=files["forget"],
                    cache=False)
    assert result.matrices == [] and result.points == [] and result.chosen is None
    assert "no intruder" in result.message
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["repair.json", "report.html"]
    doc = json.loads((tmp_path / "out" / "repair.json").read_text())
    assert doc["intruder_matrices"] == 0 and doc["quality_limit"] is None
    assert abs(doc["unscaled"]["forgetting"]) < 1e-4  # measured all the same


def test_classification_adapter_accuracy(base_dir, cls_adapter, files, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    result = repair(base_dir, cls_adapter, tmp_path / "out", files["cls"], forget_text=files["forget"],
                    text_column="sentence", lambdas=(0.0, 0.5), max_quality_drop=100.0, cache=False)
    assert result.quality_measure == "accuracy" and result.higher_is_better
    assert result.matrices and len(result.points) == 2
    # λ = 1 accuracy equals PEFT's own (unmerged) classifier on the same rows
    tok = AutoTokenizer.from_pretrained(base_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = AutoModelForSequenceClassification.from_pretrained(base_dir, num_labels=2, pad_token_id=tok.pad_token_id)
        clf = PeftModel.from_pretrained(clf, cls_adapter).eval()
    rows = [line.split(",") for line in files["cls"].read_text().splitlines()[1:]]
    with torch.no_grad():
        hits = [int(clf(**tok(t, return_tensors="pt")).logits.argmax()) == int(y) for t, y in rows]
    assert result.unscaled.quality == pytest.approx(sum(hits) / len(hits))
    assert result.unscaled.quality > 0.5
    if result.chosen is not None:
        assert (tmp_path / "out" / "adapter_model.safetensors").is_file()


def test_cli_one_line_errors(base_dir, lm_adapter, files, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,label\nhello,1\n")
    code = main(["repair", str(base_dir), str(lm_adapter), "--data", str(bad), "--out", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(bad) in err[0] and "'text'" in err[0] and "sentence" in err[0]
    code = main(["repair", str(base_dir), str(lm_adapter), "--data", str(files["val"]), "--lambdas", "0.5,1",
                 "--out", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--lambdas" in err[0]
    assert not (tmp_path / "o").exists()


def test_cli_writes_the_chosen_adapter(base_dir, lm_adapter, files, tmp_path, capsys):
    """No BASE: the base is the one adapter_config.json names (base_model_name_or_path), as PEFT loads it."""
    out = tmp_path / "o"
    code = main(["repair", str(lm_adapter), "--data", str(files["val"]), "--forget-text",
                 str(files["forget"]), "--lambdas", "0,0.5,0.9", "--max-quality-drop", "50", "--no-cache", "--out",
                 str(out), "-q"])
    line = capsys.readouterr().out.strip()
    assert code == 0 and line.startswith("λ = ") and str(out) in line
    assert (out / "adapter_model.safetensors").is_file()
    assert json.loads((out / "repair.json").read_text())["base"] == str(base_dir)


def test_classes_unlike_the_head_are_one_line(base_dir, cls_adapter, tmp_path):
    one = tmp_path / "one.csv"
    one.write_text("text,label\nqa qa,0\nqb qb,1\nzz zz,2\n")
    with pytest.raises(InputError, match="3 classes .* head has 2"):
        repair(base_dir, cls_adapter, tmp_path / "out", one, cache=False)
    assert not (tmp_path / "out").exists()


def test_all_intruders_target_writes_what_scale_writes(base_dir, lm_adapter, files, tmp_path):
    result = repair(base_dir, lm_adapter, tmp_path / "out", files["val"], forget_text=files["forget"],
                    target="all-intruders", lambdas=(0.0, 0.5), max_quality_drop=50.0, cache=False)
    assert result.chosen is not None and any(len(m.indices) > 1 for m in result.matrices)
    scale(base_dir, lm_adapter, tmp_path / "scaled", result.chosen, target="all-intruders", cache=False)
    got = load_file(tmp_path / "out" / "adapter_model.safetensors")
    want = load_file(tmp_path / "scaled" / "adapter_model.safetensors")
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert json.loads((tmp_path / "out" / "repair.json").read_text())["options"]["target"] == "all-intruders"
