"""Each top-level call of the notebook API on tiny models, checked against another route to the same numbers."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from dataclasses import fields
from pathlib import Path

import pytest
import torch

import lorascope
from fixtures.models import randomize_lora
from training import toys

# each call and the options dataclass, result and event types that travel with it
CALLS = {
    "scan": ("ScanOptions", "ScanResult", "MatrixResult", "ROW_COLUMNS"),
    "multi_scan": ("ScanOptions", "RunOptions", "MultiScanReport"),
    "scale": ("ScaleOptions", "ScaleResult"),
    "build_index": ("IndexOptions", "IndexReport"),
    "forget": ("ForgetOptions", "ForgetResult"),
    "train": ("TrainConfig", "TrainResult", "TrainEvent"),
    "build_report": ("Report",),
    "IntruderMonitor": (),
    "analyze_matrix": ("MatrixAnalysis", "TopVector", "LowRankUpdate"),
    # heavier (recipes, training on data): exercised in tests/repair and tests/experiments, resolved here
    "repair": ("RepairOptions", "RepairResult"),
    "run_experiment": ("ExperimentResult",),
    "reproduce": ("ReproduceOptions", "ReproduceResult"),
}
K = 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny saved LLaMA with a tokenizer, a real PEFT LoRA around it (in memory), and that adapter saved."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("api")
    base_dir = toys.tiny_llama_dir(root / "base")
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir), config)
        randomize_lora(peft_model, seed=1, scale=0.2)
        peft_model.save_pretrained(root / "adapter")
    return base_dir, root / "adapter", peft_model


@pytest.fixture(scope="module")
def result(tiny):
    base_dir, adapter_dir, _ = tiny
    return lorascope.scan(base_dir, adapter_dir, k=K, cache=False)


def test_every_public_name_is_the_pipeline_own_and_import_is_light():
    assert set(lorascope.__all__) >= set(CALLS) | {n for names in CALLS.values() for n in names}
    assert set(lorascope.__all__) == set(lorascope._LAZY) | {"InputError", "LorascopeError", "ResourceError",
                                                             "__version__"}
    for name in lorascope.__all__:
        value = getattr(lorascope, name)
        if hasattr(value, "__module__") and not isinstance(value, (str, dict)):
            assert getattr(sys.modules[value.__module__], name) is value
    for call, (options, *_) in ((c, n) for c, n in CALLS.items() if n and n[0].endswith(("Options", "Config"))):
        assert fields(getattr(lorascope, options)), call  # a typed, self-documenting options dataclass
    code = "import sys, lorascope; print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_rows_are_the_result_own_numbers(result):
    rows = result.rows()
    assert len(rows) == K * len(result.matrices) and all(list(r) == list(lorascope.ROW_COLUMNS) for r in rows)
    for m, chunk in zip(result.matrices, (rows[i:i + K] for i in range(0, len(rows), K)), strict=True):
        saved = m.to_json()
        assert {r["matrix"] for r in chunk} == {m.name}
        assert [(r["m"], r["n"]) for r in chunk] == [m.shape] * K
        assert [(r["vector"], r["sigma"], r["max_cos"], r["base_index"], r["intruder"]) for r in chunk] == [
            (t["index"], t["sigma"], t["max_cos"], t["base_index"], t["intruder"]) for t in saved["top"]]
        assert all(r["layer"] == saved["layer"] and r["module_type"] == saved["module_type"]
                   and r["solver"] == saved["solver"] for r in chunk)
        assert [r["intruder"] for r in chunk] == [r["max_cos"] < result.epsilon for r in chunk]
        assert sum(r["intruder"] for r in chunk) == m.intruders
    assert sum(r["intruder"] for r in rows) == result.total_intruders > 0
    assert result.to_arrow().to_pylist() == rows


def test_to_pandas_without_pandas_says_what_to_install(result, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if not installed
    with pytest.raises(ImportError, match="pip install pandas"):
        result.to_pandas()


def test_to_pandas(result):
    pd = pytest.importorskip("pandas")  # not a lorascope dependency
    frame = result.to_pandas()
    assert list(frame.columns) == list(lorascope.ROW_COLUMNS) and len(frame) == len(result.rows())
    assert frame["layer"].dtype == pd.Int64Dtype()
    assert frame.groupby("matrix", sort=False)["intruder"].sum().tolist() == [m.intruders for m in result.matrices]


def test_in_memory_scan_and_analyze_matrix_agree_with_the_folders(tiny, result):
    base_dir, _, peft_model = tiny
    assert lorascope.scan(None, peft_model, k=K, cache=False).rows() == result.rows()
    # one matrix by hand: W0 from the model, the update from the LoRA layer's own factors and scaling
    layer = peft_model.base_model.model.model.layers[1].mlp.up_proj
    update = lorascope.LowRankUpdate(B=layer.lora_B["default"].weight.detach(),
                                     A=layer.lora_A["default"].weight.detach(), scale=layer.scaling["default"])
    analysis = lorascope.analyze_matrix(layer.base_layer.weight.detach(), update, k=K)
    saved = next(m for m in result.matrices if m.name == "model.layers.1.mlp.up_proj.weight")
    assert analysis.intruders == saved.intruders
    assert [t.max_cos for t in analysis.top] == pytest.approx([t.max_cos for t in saved.analysis.top], abs=1e-6)


def test_intruder_monitor_sees_what_scan_sees(tiny, result, tmp_path):
    _, _, peft_model = tiny
    by_name = {m.name.removesuffix(".weight"): m for m in result.matrices}
    monitor = lorascope.IntruderMonitor(peft_model, tmp_path / "m.jsonl", every=1, k=K, names=list(by_name))
    monitor.step(peft_model, 0)
    assert sorted(row["matrix"] for row in monitor.history) == sorted(by_name)
    for row in monitor.history:
        saved = by_name[row["matrix"]]
        assert row["intruders"] == saved.intruders
        assert row["max_cos"] == pytest.approx([t.max_cos for t in saved.analysis.top], abs=1e-4)
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == len(monitor.history)


def test_build_index_then_scan_is_warm(tiny, result, tmp_path):
    base_dir, adapter_dir, _ = tiny
    built = lorascope.build_index(base_dir, lorascope.IndexOptions(cache_dir=tmp_path, include=(r"_proj",)))
    assert built.count("built") == len(built.matrices) > 0
    warm = lorascope.scan(base_dir, adapter_dir, k=K, cache_dir=tmp_path)
    assert warm.base_spectra_computed == 0 and warm.rows() == result.rows()


def test_scale_to_zero_removes_the_intruders_it_names(tiny, result, tmp_path):
    base_dir, adapter_dir, _ = tiny
    scaled = lorascope.scale(base_dir, adapter_dir, tmp_path / "out", 0.0, lorascope.ScaleOptions(k=K, cache=False))
    assert isinstance(scaled, lorascope.ScaleResult) and (tmp_path / "out" / "scale.json").is_file()
    named = {m.name: len(m.intruders) for m in scaled.matrices}
    assert sum(named.values()) == result.total_intruders
    assert all(named.get(m.name, 0) == m.intruders for m in result.matrices)


def test_multi_scan_writes_what_scan_returns(tiny, result, tmp_path):
    base_dir, adapter_dir, _ = tiny
    report = lorascope.multi_scan(base_dir, [adapter_dir], tmp_path / "scans", lorascope.ScanOptions(k=K),
                                  lorascope.RunOptions(group_size=2))
    assert isinstance(report, lorascope.MultiScanReport) and len(report.scans) == 1
    written = json.loads((tmp_path / "scans" / f"{adapter_dir.name}.json").read_text())
    assert [m["top"] for m in written["matrices"]] == [m.to_json()["top"] for m in result.matrices]


def test_forget_scores_text(tiny, tmp_path):
    base_dir, _, _ = tiny
    text = tmp_path / "docs.txt"
    text.write_text("The film was a quiet triumph.\nMarkets fell sharply on tuesday, analysts said.\n")
    got = lorascope.forget(base_dir, text=text, options=lorascope.ForgetOptions(context=8, batch_size=2))
    assert isinstance(got, lorascope.ForgetResult) and len(got.documents) == 2
    assert got.loss > 0 and torch.isfinite(torch.tensor(got.loss))


def test_train_then_report(tiny, tmp_path):
    base_dir, _, _ = tiny
    config = lorascope.TrainConfig(model=str(base_dir), task="rt_polarity", train_examples=16, test_examples=8,
                                   batch_size=8, max_length=24, epochs=1, forget_chunks=1, forget_chunk_length=24,
                                   k=K, lr=1e-2, eval_every=1, save_every=10, threads=1)
    events: list = []
    run = lorascope.train(config, tmp_path / "run", progress=events.append, cache_dir=tmp_path / "cache")
    assert isinstance(run, lorascope.TrainResult) and events and isinstance(events[0], lorascope.TrainEvent)
    logged = [json.loads(line) for line in (run.out / "results.jsonl").read_text().splitlines()]
    assert logged == run.rows and [r["step"] for r in logged] == [0, 1, 2]
    report = lorascope.build_report([run.out], tmp_path / "report.html")
    assert isinstance(report, lorascope.Report) and report.figures
    assert Path(report.html).read_text().count("<svg") >= len(report.figures)
