"""The second model family (Gemma 3) through the classifier path on a tiny random Gemma3 built here: the
classifier class, the cached bottom across sliding and full attention layers, forgetting through the base LM
head (checked against a hand loop), the saved adapter, and the intruder scan of the trained matrices."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from lorascope.pipelines.train import TrainConfig, train
from training import toys

DOCS = ["The film was a quiet triumph, and the audience knew it.", "Markets fell sharply on tuesday.",
        "Rain is expected later this week in the north, forecasters warned today."]


@pytest.fixture(scope="module")
def gemma_dir(tmp_path_factory) -> Path:
    """4 blocks (sliding, sliding, full, sliding), sliding window 4: shorter than most training texts."""
    return toys.tiny_gemma3_dir(tmp_path_factory.mktemp("tiny") / "gemma")


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "docs.txt"
    path.write_text("\n".join(DOCS) + "\n")
    return path


def small(model: Path, text: Path, **overrides) -> TrainConfig:
    """8 steps over 64 real reviews, top 2 of 4 blocks, evaluation at steps 0, 4, 8; forgetting on DOCS."""
    settings = dict(model=str(model), task="rt_polarity", train_examples=64, test_examples=24, batch_size=8,
                    max_length=32, epochs=1, train_layers="top:2", forget_text=str(text), forget_chunks=8,
                    forget_chunk_length=64, k=4, lr=1e-2, eval_every=4)
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def lora_run(gemma_dir, text_file, cache_dir, tmp_path_factory):
    return train(small(gemma_dir, text_file), tmp_path_factory.mktemp("gemma_lora") / "run", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def full_run(gemma_dir, text_file, cache_dir, tmp_path_factory):
    cfg = small(gemma_dir, text_file, method="full", lr=1e-2)
    return train(cfg, tmp_path_factory.mktemp("gemma_full") / "run", cache_dir=cache_dir)


def hand_lm_loss(lm, tokenizer) -> float:
    """Mean next-token loss over DOCS, each document alone after <bos> (every document fits one window)."""
    total, count = 0.0, 0
    for text in DOCS:
        ids = [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]
        with torch.no_grad():
            logits = lm(input_ids=torch.tensor([ids[:-1]])).logits[0].double()
        total += float(F.cross_entropy(logits, torch.tensor(ids[1:]), reduction="sum"))
        count += len(ids) - 1
    return total / count


def lm_with_backbone(gemma_dir: Path, classifier) -> torch.nn.Module:
    """The base Gemma3ForCausalLM with every backbone weight (`model.*`) taken from a tuned classifier."""
    from transformers import Gemma3ForCausalLM

    lm = Gemma3ForCausalLM.from_pretrained(gemma_dir).eval()
    backbone = {k: v for k, v in classifier.state_dict().items() if k.startswith("model.")}
    missing, unexpected = lm.load_state_dict(backbone, strict=False)
    assert not unexpected and missing == ["lm_head.weight"]  # tied to the (frozen) embedding
    lm.tie_weights()
    return lm


def test_classifier_is_gemma3_text_and_injection_matches_the_whole_model(gemma_dir):
    from lorascope.training.bottom import capture_block_input, inject_block_input
    from lorascope.training.data import pad_right
    from lorascope.training.modeling import build_classifier

    clf = build_classifier(gemma_dir, 2, "full", 8, None, 3, seed=0)
    assert type(clf.unwrapped()).__name__ == "Gemma3TextForSequenceClassification" and clf.head == ["score"]
    assert clf.first_trained == 1 and len(clf.matrices) == 21 and clf.pad_id == 0
    clf.model.eval()
    seqs = [[1, *range(5, 17)], [1, 9, 10], [1, *range(11, 20)]]  # longer than the sliding window (4)
    ids, mask = pad_right(seqs, clf.pad_id)
    with torch.no_grad():
        whole = clf.model(input_ids=ids, attention_mask=mask).logits
        for start in (1, 3):  # block 2 is the full-attention one: the mask of each kind must follow its layer
            hidden = capture_block_input(lambda: clf.model(input_ids=ids, attention_mask=mask), clf.blocks, start)
            with inject_block_input(clf.blocks, start, hidden):
                top = clf.model(input_ids=ids, attention_mask=mask).logits
            assert torch.equal(whole, top)
    assert all(type(b).__name__ == "Gemma3DecoderLayer" for b in clf.blocks)


@pytest.mark.parametrize("which", ["lora_run", "full_run"])
def test_run_trains_scans_and_measures_forgetting_through_the_base_lm_head(which, request, gemma_dir):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    from lorascope.training.modeling import load_tokenizer

    result = request.getfixturevalue(which)
    rows = result.rows
    assert [r["step"] for r in rows] == [0, 4, 8]
    config = json.loads((result.out / "config.json").read_text())
    assert config["trained_blocks"] == [2, 4] and len(config["trained_matrices"]) == 14 and config["cached_bottom"]
    assert config["forgetting"]["bos"] is True and config["forgetting"]["documents"] == len(DOCS)
    assert rows[-1]["intruders"] > 0  # lr 1e-2 on random tiny matrices moves their top directions

    tok = load_tokenizer(gemma_dir)
    base_lm = lm_with_backbone(gemma_dir, AutoModelForSequenceClassification.from_pretrained(gemma_dir,
                                                                                            num_labels=2))
    assert rows[0]["lm_loss"] == pytest.approx(hand_lm_loss(base_lm, tok), abs=1e-5)
    checkpoint = result.out / rows[-1]["checkpoint"]
    if which == "lora_run":
        base = AutoModelForSequenceClassification.from_pretrained(gemma_dir, num_labels=2, pad_token_id=0)
        tuned = PeftModel.from_pretrained(base, checkpoint).merge_and_unload()
    else:
        tuned = AutoModelForSequenceClassification.from_pretrained(checkpoint)
    assert type(tuned).__name__ == "Gemma3TextForSequenceClassification"
    tuned_loss = hand_lm_loss(lm_with_backbone(gemma_dir, tuned), tok)
    assert rows[-1]["lm_loss"] == pytest.approx(tuned_loss, abs=1e-5)
    assert rows[-1]["forgetting"] == pytest.approx(tuned_loss - rows[0]["lm_loss"], abs=1e-5) != 0

    # the checkpoint reproduces the recorded accuracy (texts start with <bos>, pooled at the last real token)
    from lorascope.datasets import rt_polarity

    test = rt_polarity().test[:24]
    ids = [tok(text, truncation=True, max_length=32)["input_ids"] for text, _ in test]
    assert all(seq[0] == tok.bos_token_id for seq in ids)
    from lorascope.training.data import pad_right

    batch, mask = pad_right(ids, 0)
    with torch.no_grad():
        pred = tuned.eval()(input_ids=batch, attention_mask=mask).logits.argmax(-1)
    accuracy = float((pred == torch.tensor([y for _, y in test])).float().mean())
    assert accuracy == pytest.approx(rows[-1]["accuracy"])


@pytest.mark.parametrize("which, method, lr", [("lora_run", "lora", 1e-2), ("full_run", "full", 1e-2)])
def test_cached_bottom_equals_uncached_forward(which, method, lr, request, gemma_dir, text_file, cache_dir,
                                               tmp_path):
    cached = request.getfixturevalue(which)
    cfg = small(gemma_dir, text_file, method=method, lr=lr)
    plain = train(replace(cfg, cache_bottom=False), tmp_path / "plain", cache_dir=cache_dir)
    for x, y in zip(cached.rows, plain.rows, strict=True):
        for key in ("lm_loss", "forgetting", "train_loss"):
            assert x[key] == pytest.approx(y[key], abs=1e-5)
        assert x["accuracy"] == y["accuracy"] and x["intruders"] == y["intruders"]
    a = load_file(cached.out / "state" / (cached.out / "state" / "LATEST").read_text().strip() / "params.safetensors")
    b = load_file(plain.out / "state" / (plain.out / "state" / "LATEST").read_text().strip() / "params.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5, rtol=0) for k in a)


def test_lm_objective_trains_the_gemma_causal_lm_with_the_cached_bottom(gemma_dir, text_file, cache_dir, tmp_path):
    """--objective lm: Gemma3ForCausalLM itself trains (LoRA, top 2 blocks); cached and uncached runs agree and
    the held-out task loss falls."""
    data = tmp_path / "stories.jsonl"
    words = ["red", "blue", "cold", "warm", "loud", "slow"]
    data.write_text("".join(json.dumps({"text": f"the {a} cat saw the {b} dog."}) + "\n"
                            for a in words for b in words))
    cfg = small(gemma_dir, text_file, task=None, data=str(data), objective="lm", test_fraction=0.25,
                train_examples=None, test_examples=None, lr=3e-2, epochs=2, eval_every=None)
    cached = train(cfg, tmp_path / "cached", cache_dir=cache_dir)
    plain = train(replace(cfg, cache_bottom=False), tmp_path / "plain", cache_dir=cache_dir)
    assert json.loads((cached.out / "config.json").read_text())["cached_bottom"]
    for x, y in zip(cached.rows, plain.rows, strict=True):
        for key in ("task_loss", "lm_loss", "forgetting", "train_loss"):
            assert x[key] == pytest.approx(y[key], abs=1e-5) or x[key] is y[key] is None
    assert cached.rows[-1]["task_loss"] < cached.rows[0]["task_loss"]


@pytest.mark.parametrize("softcap", [None, 0.3])
def test_task_loss_in_head_slices_equals_the_whole_logits(gemma_dir, softcap):
    """The lm objective's held-out task loss scores only real targets, a few head rows at a time; it equals
    the loss over the model's own (soft-capped) logits, padding included in the batch."""
    from transformers import AutoModelForCausalLM

    from lorascope.training.data import encode
    from lorascope.training.lm_task import TokenLossRunner
    from lorascope.training.modeling import load_tokenizer

    lm = AutoModelForCausalLM.from_pretrained(gemma_dir).eval()
    lm.config.final_logit_softcapping = softcap
    tok = load_tokenizer(gemma_dir)
    data = encode(tok, [(text, 0) for text in DOCS + ["a b", "the cat sat on the mat."]], 40)
    runner = TokenLossRunner(lm, data, int(tok.pad_token_id))
    with torch.no_grad():
        nll, mask = runner.token_losses(list(range(len(data))))  # the whole (B, L, vocab) logits
    expected = float((nll.double() * mask.double()).sum() / mask.sum())
    loss, count = runner.task_loss(batch_size=3, logit_tokens=5)
    assert count == int(mask.sum()) and loss == pytest.approx(expected, rel=1e-6)
    if softcap is not None:  # the cap changes the loss, so the check above covers it
        lm.config.final_logit_softcapping = None
        assert abs(runner.task_loss(batch_size=3, logit_tokens=5)[0] - loss) > 1e-4  # (rel=1e-6 above)
