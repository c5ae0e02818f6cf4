"""The train pipeline on tiny models: runs complete, rows follow the schema, adapters load, resume is exact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lorascope.errors import InputError
from lorascope.pipelines.train import TrainConfig, train
from lorascope.training.rows import RESULT_FIELDS

TIMING = ("seconds", "sec_per_step", "eval_seconds")


def small(model: Path, **overrides) -> TrainConfig:
    """8 steps per epoch over 64 real reviews; 2 epochs; evaluation every 4 steps."""
    settings = dict(model=str(model), task="rt_polarity", train_examples=64, test_examples=24, batch_size=8,
                    max_length=32, epochs=2, forget_chunks=2, forget_chunk_length=48, k=4, lr=1e-2,
                    eval_every=4, save_every=3)
    settings.update(overrides)
    return TrainConfig(**settings)


def untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def final_params(out: Path) -> dict[str, torch.Tensor]:
    state = out / "state" / (out / "state" / "LATEST").read_text().strip()
    return load_file(state / "params.safetensors")


@pytest.fixture(scope="module")
def lora_run(llama_dir, cache_dir, tmp_path_factory):
    return train(small(llama_dir), tmp_path_factory.mktemp("lora") / "run", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def full_run(llama_dir, cache_dir, tmp_path_factory):
    cfg = small(llama_dir, method="full", train_layers="top:2", lr=3e-3)
    return train(cfg, tmp_path_factory.mktemp("full") / "run", cache_dir=cache_dir)


@pytest.mark.parametrize("which", ["lora_run", "full_run"])
def test_run_completes_with_schema_rows(which, request):
    result = request.getfixturevalue(which)
    rows = [json.loads(line) for line in (result.out / "results.jsonl").read_text().splitlines()]
    assert rows == result.rows
    assert [r["step"] for r in rows] == [0, 4, 8, 12, 16]
    assert [r["epoch"] for r in rows] == [0, 0.5, 1, 1.5, 2]
    for row in rows:
        assert tuple(row) == RESULT_FIELDS
        assert 0 <= row["accuracy"] <= 1 and row["intruders"] >= 0 and row["lm_loss"] > 0
        assert row["run_id"] == result.run_id
    first, last = rows[0], rows[-1]
    assert first["forgetting"] == 0 and first["intruders"] == 0 and first["train_loss"] is None
    assert first["checkpoint"] is None and last["checkpoint"] == "checkpoints/step-16"
    assert last["forgetting"] == pytest.approx(last["lm_loss"] - first["lm_loss"])
    assert last["intruders"] > 0  # lr 1e-2 on random tiny matrices moves their top directions
    config = json.loads((result.out / "config.json").read_text())
    assert config["run_id"] == result.run_id and config["total_steps"] == 16
    assert config["task"]["train_rows_dropped_as_test_duplicates"] == 2  # RT repeats two test reviews
    for row in rows[1:]:
        assert (result.out / row["checkpoint"]).is_dir()


def test_full_run_records_top_layers(full_run):
    config = json.loads((full_run.out / "config.json").read_text())
    assert config["trained_blocks"] == [1, 3] and config["cached_bottom"] is True
    assert all(".layers.1." in m or ".layers.2." in m for m in config["trained_matrices"])
    assert len(config["trained_matrices"]) == 14
    assert full_run.rows[0]["train_layers"] == "top:2"


def test_masked_lm_run_measures_pseudo_loss_forgetting(bert_mlm_dir, cache_dir, tmp_path):
    cfg = small(bert_mlm_dir, epochs=1, eval_every=None, forget_chunk_length=16)
    result = train(cfg, tmp_path / "bert", cache_dir=cache_dir)
    config = json.loads((result.out / "config.json").read_text())
    assert config["forgetting"]["kind"] == "masked" and len(config["trained_matrices"]) == 12
    assert [r["step"] for r in result.rows] == [0, 8]
    assert result.rows[0]["forgetting"] == 0 and result.rows[-1]["forgetting"] != 0


def test_lora_rule_and_defaults():
    cfg = TrainConfig(method="lora", rank=8)
    assert cfg.resolved_alpha == 16 and cfg.resolved_lr == pytest.approx(1.5e-4)
    assert TrainConfig(method="lora", rank=2, lora_lr_product=1e-3).resolved_lr == pytest.approx(2.5e-4)
    assert TrainConfig(method="full").resolved_lr == 1e-5 and TrainConfig(method="full").resolved_alpha is None
    assert TrainConfig(lr=3e-3).resolved_lr == 3e-3


def test_saved_adapter_loads_with_peft_and_reproduces_accuracy(lora_run, llama_dir):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from lorascope.datasets import rt_polarity

    last = lora_run.rows[-1]
    base = AutoModelForSequenceClassification.from_pretrained(llama_dir, num_labels=2, pad_token_id=0)
    model = PeftModel.from_pretrained(base, lora_run.out / last["checkpoint"]).eval()
    tok = AutoTokenizer.from_pretrained(llama_dir)
    rows = rt_polarity().test[:24]
    enc = tok([t for t, _ in rows], truncation=True, max_length=32, padding=True, return_tensors="pt")
    with torch.no_grad():
        pred = model(**enc).logits.argmax(-1)
    accuracy = float((pred == torch.tensor([y for _, y in rows])).float().mean())
    assert accuracy == pytest.approx(last["accuracy"])


def test_saved_full_checkpoint_is_a_hf_model(full_run, llama_dir):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(full_run.out / "checkpoints" / "step-16")
    tuned = model.model.layers[2].mlp.up_proj.weight
    base = load_file(llama_dir / "model.safetensors")
    assert not torch.equal(tuned, base["model.layers.2.mlp.up_proj.weight"])
    assert torch.equal(model.model.layers[0].mlp.up_proj.weight, base["model.layers.0.mlp.up_proj.weight"])


@pytest.mark.parametrize("which, overrides", [("lora_run", {}),
                                              ("full_run", dict(method="full", train_layers="top:2", lr=3e-3))])
def test_resume_after_stop_equals_uninterrupted(which, overrides, request, llama_dir, cache_dir, tmp_path):
    reference = request.getfixturevalue(which)
    cfg = small(llama_dir, **overrides)
    stopped = train(cfg, tmp_path / "run", cache_dir=cache_dir, stop_after=7)  # last save: step 6
    assert stopped.stopped and [r["step"] for r in stopped.rows] == [0, 4]
    events = []
    resumed = train(cfg, tmp_path / "run", cache_dir=cache_dir, progress=events.append)
    assert not resumed.stopped
    messages = [e.message for e in events if e.kind == "info"]
    assert messages[0] == f"resuming at step 6 from {tmp_path / 'run' / 'state' / 'step-00000006'}"
    assert not any("caching" in m for m in messages)  # hidden states come from the cache on disk
    assert untimed(resumed.rows) == untimed(reference.rows)
    a, b = final_params(reference.out), final_params(tmp_path / "run")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cached_bottom_equals_uncached_forward(full_run, llama_dir, cache_dir, tmp_path):
    cfg = small(llama_dir, method="full", train_layers="top:2", lr=3e-3, cache_bottom=False)
    plain = train(cfg, tmp_path / "plain", cache_dir=cache_dir)
    assert not json.loads((plain.out / "config.json").read_text())["cached_bottom"]
    for x, y in zip(untimed(full_run.rows), untimed(plain.rows), strict=True):
        assert x.pop("run_id") != y.pop("run_id")
        assert x.pop("lm_loss") == pytest.approx(y.pop("lm_loss"), abs=1e-6)
        assert x.pop("forgetting") == pytest.approx(y.pop("forgetting"), abs=1e-6)
        assert x.pop("train_loss") == pytest.approx(y.pop("train_loss"), abs=1e-6)
        assert x == y
    a, b = final_params(full_run.out), final_params(plain.out)
    assert all(torch.allclose(a[k], b[k], atol=1e-6, rtol=0) for k in a)


def test_a_second_run_of_the_same_base_reads_its_base_spectra_from_the_index(llama_dir, tmp_path, monkeypatch):
    import lorascope.index.spectra as index_spectra
    import lorascope.training.probe as probe_module

    calls = []
    for module in (index_spectra, probe_module):  # every way the probe could decompose a base matrix
        real = module.base_spectrum
        monkeypatch.setattr(module, "base_spectrum",
                            lambda W0, *a, real=real, **kw: calls.append(tuple(W0.shape)) or real(W0, *a, **kw))
    cfg = small(llama_dir, epochs=1, eval_every=None)
    first = train(cfg, tmp_path / "first", cache_dir=tmp_path / "cache")
    trained = json.loads((first.out / "config.json").read_text())["trained_matrices"]
    assert len(calls) == len(trained) > 0
    calls.clear()
    again = train(replace(cfg, seed=1), tmp_path / "again", cache_dir=tmp_path / "cache")
    assert calls == []  # every base spectrum read back from the index the first run filled
    assert again.rows[0]["intruders"] == 0 and [r["step"] for r in again.rows] == [0, 8]


def test_a_finished_run_is_read_back_without_building_a_model(lora_run, llama_dir, cache_dir, monkeypatch):
    import lorascope.pipelines.train as train_module

    def no_model(*args, **kwargs):
        raise AssertionError("a finished run built its model again")

    monkeypatch.setattr(train_module, "build_classifier", no_model)
    events = []
    again = train(small(llama_dir), lora_run.out, cache_dir=cache_dir, progress=events.append)
    assert again.rows == lora_run.rows and again.run_id == lora_run.run_id and not again.stopped
    assert any("finished before" in e.message for e in events)
    monkeypatch.undo()
    with pytest.raises(InputError, match="holds a different run"):  # other settings still go the checked way
        train(small(llama_dir, lr=5e-3), lora_run.out, cache_dir=cache_dir)


def test_block_injection_matches_whole_model(llama_dir):
    from lorascope.training.bottom import capture_block_input, inject_block_input
    from lorascope.training.data import pad_right
    from lorascope.training.modeling import build_classifier

    clf = build_classifier(llama_dir, 2, "full", 8, None, 2, seed=0)
    clf.model.eval()
    ids, mask = pad_right([[1, 5, 6, 7, 8], [1, 9, 10], [1, 11, 12, 13]], clf.pad_id)
    with torch.no_grad():
        whole = clf.model(input_ids=ids, attention_mask=mask).logits
        hidden = capture_block_input(lambda: clf.model(input_ids=ids, attention_mask=mask), clf.blocks, 1)
        with inject_block_input(clf.blocks, 1, hidden):
            top = clf.model(input_ids=ids, attention_mask=mask).logits
    assert torch.equal(whole, top)
    assert all(type(b).__name__ == "LlamaDecoderLayer" for b in clf.blocks)  # restored afterwards


def test_changed_settings_in_the_same_folder_are_refused(lora_run, llama_dir, cache_dir):
    with pytest.raises(InputError, match="different run"):
        train(small(llama_dir, lr=5e-3), lora_run.out, cache_dir=cache_dir)


@pytest.mark.parametrize("make, needle", [
    (lambda m: small(m, task="sst2"), "known tasks: rt_polarity, bbc_topic"),
    (lambda m: replace(small(m), model="roberta-base"), "smollm2, gemma3-270m, minilm"),
    (lambda m: small(m, train_layers="top:9"), "only 3 blocks"),
])
def test_unknown_names_are_input_errors(make, needle, llama_dir, cache_dir, tmp_path):
    with pytest.raises(InputError, match=needle):
        train(make(llama_dir), tmp_path / "run", cache_dir=cache_dir)
    assert not (tmp_path / "run" / "results.jsonl").exists()


@pytest.mark.parametrize("bad", [dict(method="dora"), dict(train_layers="bottom:2"), dict(rank=0),
                                 dict(lr=-1.0), dict(epsilon=0.0), dict(warmup=1.0)])
def test_bad_settings_are_input_errors(bad):
    with pytest.raises(InputError):
        TrainConfig(**bad)


CHILD = textwrap.dedent("""
    import sys, time
    import torch
    from lorascope.pipelines.train import TrainConfig, train
    torch.set_num_threads(1)
    cfg = TrainConfig(**eval(sys.argv[1]))
    def progress(event):
        if event.kind == "step":
            print(event.step, flush=True)
            time.sleep(0.05)
    train(cfg, sys.argv[2], cache_dir=sys.argv[3], progress=progress)
""")


def test_kill_9_then_resume_equals_uninterrupted(lora_run, llama_dir, cache_dir, tmp_path):
    cfg = small(llama_dir)
    out = tmp_path / "run"
    settings = {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, repr(settings), str(out), str(cache_dir)],
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 120
        for line in child.stdout:
            if int(line) >= 5 or time.time() > deadline:  # the state of step 3 is saved by then
                break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert (out / "state" / "LATEST").is_file()
    resumed = train(cfg, out, cache_dir=cache_dir)
    assert untimed(resumed.rows) == untimed(lora_run.rows)
    a, b = final_params(lora_run.out), final_params(out)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_replace_keeps_validation():
    with pytest.raises(InputError):
        replace(TrainConfig(), batch_size=0)


def test_cached_bottom_equals_uncached_with_dropout(bert_mlm_dir, cache_dir, tmp_path):
    """BERT has dropout: the frozen bottom runs without it in both modes, the top keeps it (same RNG)."""
    cfg = small(bert_mlm_dir, train_layers="top:1", epochs=1, eval_every=None, forget_chunks=0, lr=3e-3)
    cached = train(cfg, tmp_path / "cached", cache_dir=cache_dir)
    plain = train(replace(cfg, cache_bottom=False), tmp_path / "plain", cache_dir=cache_dir)
    assert [r["accuracy"] for r in cached.rows] == [r["accuracy"] for r in plain.rows]
    assert cached.rows[-1]["train_loss"] == pytest.approx(plain.rows[-1]["train_loss"], abs=1e-6)
    a, b = final_params(cached.out), final_params(plain.out)
    assert all(torch.allclose(a[k], b[k], atol=1e-6, rtol=0) for k in a)


def test_the_untrained_model_is_scored_once_per_base_and_head(llama_dir, tmp_path, monkeypatch):
    """Step 0 of LoRA (B = 0) and of full fine-tuning is the base under the seed's fresh head: the second run of a
    seed reads its step-0 task quality from the cache, equal to a fresh measurement; another seed measures."""
    import lorascope.pipelines.quality as quality_module

    scored = []
    real = quality_module.QualityScorer.measure
    monkeypatch.setattr(quality_module.QualityScorer, "measure",
                        lambda self, *a, **kw: scored.append(1) or real(self, *a, **kw))
    lora = small(llama_dir, train_layers="top:2", epochs=1, eval_every=None)
    full = replace(lora, method="full", lr=3e-3)
    first = train(lora, tmp_path / "lora", cache_dir=tmp_path / "cache")
    assert len(scored) == 2  # step 0 and the end
    scored.clear()
    shared = train(full, tmp_path / "full", cache_dir=tmp_path / "cache")
    assert len(scored) == 1  # the end only
    fresh = train(full, tmp_path / "fresh", cache_dir=tmp_path / "other-cache")
    assert len(scored) == 3
    step0 = [{k: run.rows[0][k] for k in ("accuracy", "task_loss", "task_perplexity", "quality_metric")}
             for run in (first, shared, fresh)]
    assert step0[0] == step0[1] == step0[2]
    assert shared.rows[1] == {**shared.rows[1], **{k: v for k, v in fresh.rows[1].items() if k not in TIMING}}
    scored.clear()
    train(replace(lora, seed=1), tmp_path / "seed1", cache_dir=tmp_path / "cache")
    assert len(scored) == 2  # another head: measured, not read


def test_a_trained_matrix_makes_the_step0_quality_its_own(llama_dir, tmp_path):
    """The shared step-0 quality stands only for a model equal to its base: a nonzero LoRA B is refused it."""
    from lorascope.pipelines.quality import QualityScorer
    from lorascope.pipelines.train import load_run_task, untrained_quality_key
    from lorascope.training.modeling import build_classifier
    from lorascope.training.probe import IntruderProbe

    cfg = small(llama_dir, train_layers="top:2")
    clf = build_classifier(llama_dir, 2, "lora", 4, 8.0, 2, 0, False)
    probe = IntruderProbe(clf.model, clf.matrices, k=2)
    assert probe.all_unchanged(clf.model)
    quality = QualityScorer(clf.tokenizer, load_run_task(cfg), "classify", 32, 32, 24)
    key = untrained_quality_key("fp", quality, clf.first_trained, clf)
    other = build_classifier(llama_dir, 2, "lora", 4, 8.0, 2, 1, False)  # seed 1: another fresh head
    assert untrained_quality_key("fp", quality, other.first_trained, other) != key
    assert untrained_quality_key("fp2", quality, clf.first_trained, clf) != key
    with torch.no_grad():
        next(p for n, p in clf.model.named_parameters() if "lora_B" in n).add_(1e-3)
    assert not probe.all_unchanged(clf.model)
