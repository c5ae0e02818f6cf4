"""Forgetting: the causal LM loss and the masked-LM pseudo-loss equal hand-written reference loops."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lorascope.errors import InputError
from lorascope.pipelines.forget import ForgetOptions, forget

DOCS = ["The film was a quiet triumph.", "Markets fell sharply on tuesday, analysts said.",
        "A short one.", "Rain is expected later this week in the north, forecasters warned today."]


@pytest.fixture
def text_file(tmp_path) -> Path:
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(DOCS[:2]) + "\n\n" + "\n".join(DOCS[2:]) + "\n")  # a blank line is skipped
    return path


def reference_causal(model_dir: Path, docs: list[str], length: int) -> tuple[float, list[float]]:
    """The loss by hand: EOS after each document, BOS + (length-1) stream tokens per chunk, mean CE."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    stream, owner = [], []
    for d, text in enumerate(docs):
        ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        stream += ids
        owner += [d] * len(ids)
    total, count = 0.0, 0
    per_doc = [[0.0, 0] for _ in docs]
    for start in range(0, len(stream), length - 1):
        piece = stream[start:start + length - 1]
        ids = torch.tensor([[tok.bos_token_id, *piece]])
        with torch.no_grad():
            logp = F.log_softmax(model(input_ids=ids).logits[0].double(), -1)
        for t, token in enumerate(piece):  # position t predicts piece[t] (position 0 is BOS)
            nll = -float(logp[t, token])
            total, count = total + nll, count + 1
            per_doc[owner[start + t]][0] += nll
            per_doc[owner[start + t]][1] += 1
    return total / count, [s / n for s, n in per_doc]


def reference_rolling(model_dir: Path, docs: list[str], window: int) -> tuple[float, list[float], list[int]]:
    """The rolling loss by hand, one forward per token: token t of a document is predicted from BOS + the
    tokens before it when t < window; else, with e the end of its block of `window` targets
    (e = min(window·(⌊t/window⌋ + 1), n)), from the document's tokens [e - window - 1, t)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    sums, counts = [], []
    for text in docs:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        n, total = len(ids), 0.0
        for t in range(n):
            if t < window:
                context = [tok.bos_token_id, *ids[:t]]
            else:
                end = min(window * (t // window + 1), n)
                context = ids[end - window - 1:t]
            assert 1 <= len(context) <= window
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([context])).logits[0, -1].double()
            total -= float(F.log_softmax(logits, -1)[ids[t]])
        sums.append(total)
        counts.append(n)
    return sum(sums) / sum(counts), [s / n for s, n in zip(sums, counts, strict=True)], counts


def test_rolling_windows_match_the_harness_gold():
    from lorascope.training.lm import rolling_windows

    # lm-evaluation-harness's own test of get_rolling_token_windows (34 tokens, max_seq_len 10, context_len 1,
    # prefix -100), as (input, predicted) pairs: the input is our sequence[:-1], the predicted its last tokens.
    gold = [([-100, *range(9)], list(range(10))), (list(range(9, 19)), list(range(10, 20))),
            (list(range(19, 29)), list(range(20, 30))), (list(range(23, 33)), [30, 31, 32, 33])]
    windows = rolling_windows(list(range(34)), prefix=-100, max_length=10)
    assert [(seq[:-1], seq[len(seq) - scored:]) for seq, scored in windows] == gold
    assert rolling_windows([], 1, 10) == [] and rolling_windows([5, 6], 1, 10) == [([1, 5, 6], 2)]


@pytest.mark.parametrize("window", [8, None])  # 8: several windows per document; None: the model's 256
def test_rolling_loss_equals_hand_reference(llama_dir, text_file, window):
    expected, per_doc, counts = reference_rolling(llama_dir, DOCS, window or 256)
    result = forget(llama_dir, text=text_file, options=ForgetOptions(context=window, batch_size=2))
    assert result.mode == "rolling" and result.context == (window or 256)
    assert result.loss == pytest.approx(expected, abs=1e-5)
    assert result.perplexity == pytest.approx(math.exp(expected), rel=1e-5)
    assert [d["loss"] for d in result.documents] == pytest.approx(per_doc, abs=1e-5)
    assert [d["tokens"] for d in result.documents] == counts and result.tokens == sum(len(d) for d in DOCS)


def test_rolling_document_loss_does_not_depend_on_its_neighbours(llama_dir, tmp_path):
    alone, together = tmp_path / "alone.txt", tmp_path / "together.txt"
    alone.write_text(DOCS[2] + "\n")
    together.write_text("\n".join(DOCS) + "\n")
    options = ForgetOptions(context=8)
    one = forget(llama_dir, text=alone, options=options).documents[0]["loss"]
    assert forget(llama_dir, text=together, options=options).documents[2]["loss"] == pytest.approx(one, abs=1e-6)
    stream = ForgetOptions(mode="stream", chunk_length=8)  # the stream's chunk boundaries move it
    assert forget(llama_dir, text=together, options=stream).documents[2]["loss"] != pytest.approx(
        forget(llama_dir, text=alone, options=stream).documents[0]["loss"], abs=1e-4)


def test_forget_text_as_jsonl_column(llama_dir, text_file, tmp_path):
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text("".join(json.dumps({"body": d, "n": i}) + "\n" for i, d in enumerate(DOCS)))
    from_jsonl = forget(llama_dir, text=jsonl, options=ForgetOptions(text_column="body", context=8))
    assert from_jsonl.loss == pytest.approx(forget(llama_dir, text=text_file,
                                                   options=ForgetOptions(context=8)).loss, abs=1e-9)


def test_stream_loss_equals_hand_reference(llama_dir, text_file):
    expected, per_doc = reference_causal(llama_dir, DOCS, length=16)
    result = forget(llama_dir, text=text_file, options=ForgetOptions(mode="stream", chunk_length=16,
                                                                     batch_size=3))
    assert result.kind == "causal" and result.forgetting is None
    assert result.loss == pytest.approx(expected, abs=1e-5)
    assert [d["loss"] for d in result.documents] == pytest.approx(per_doc, abs=1e-5)
    assert result.tokens == sum(len(d) + 1 for d in DOCS)  # characters + one EOS per document


def test_forgetting_of_an_adapter_is_tuned_minus_base(llama_dir, text_file, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from fixtures.models import randomize_lora

    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(llama_dir),
                                LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "down_proj"]))
    randomize_lora(peft_model, seed=1, scale=0.3)
    peft_model.save_pretrained(tmp_path / "adapter")
    merged_dir = tmp_path / "merged"
    peft_model.merge_and_unload().save_pretrained(merged_dir)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (merged_dir / name).write_bytes((llama_dir / name).read_bytes())

    opts = ForgetOptions(context=16)
    result = forget(llama_dir, adapter=tmp_path / "adapter", text=text_file, options=opts)
    tuned, _, _ = reference_rolling(merged_dir, DOCS, 16)
    base, _, _ = reference_rolling(llama_dir, DOCS, 16)
    assert result.loss == pytest.approx(tuned, abs=1e-5) and result.base_loss == pytest.approx(base, abs=1e-5)
    assert result.forgetting == pytest.approx(tuned - base, abs=1e-5) and result.forgetting != 0
    out = tmp_path / "f.json"
    result.save_json(out)
    saved = json.loads(out.read_text())
    assert saved["tokens"] == result.tokens and len(saved["documents"]) == 4
    assert {"index", "tokens", "loss", "base_loss"} <= set(saved["documents"][0])


def test_pseudo_loss_equals_hand_loop(bert_mlm_dir, text_file):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(bert_mlm_dir)
    model = AutoModelForMaskedLM.from_pretrained(bert_mlm_dir).eval()
    length = 12
    nlls, per_doc = [], []
    for text in DOCS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        doc = []
        for start in range(0, len(ids), length - 2):
            seq = [tok.cls_token_id, *ids[start:start + length - 2], tok.sep_token_id]
            for t in range(1, len(seq) - 1):  # one masked copy per token, one at a time
                masked = list(seq)
                masked[t] = tok.mask_token_id
                with torch.no_grad():
                    logits = model(input_ids=torch.tensor([masked])).logits[0, t].double()
                doc.append(-float(F.log_softmax(logits, -1)[seq[t]]))
        nlls += doc
        per_doc.append(sum(doc) / len(doc))
    for mode in ("rolling", "stream"):  # with a text file, each document is scored on its own either way
        result = forget(bert_mlm_dir, text=text_file, options=ForgetOptions(chunk_length=length, batch_size=1,
                                                                            mode=mode))
        assert result.loss == pytest.approx(sum(nlls) / len(nlls), abs=1e-5)
    assert result.kind == "masked"
    assert result.loss == pytest.approx(sum(nlls) / len(nlls), abs=1e-5)
    assert [d["loss"] for d in result.documents] == pytest.approx(per_doc, abs=1e-5)
    assert result.tokens == len(nlls) and math.isfinite(result.loss)


def test_model_without_lm_head_is_an_input_error(tmp_path, text_file):
    from fixtures.models import save_model, tiny_bert

    bare = save_model(tiny_bert(), tmp_path / "bare")
    with pytest.raises(InputError, match="no LM head"):
        forget(bare, text=text_file)
    with pytest.raises(InputError, match="unknown model"):
        forget("no-such-model", text=text_file)


def test_rolling_chunks_budget_takes_whole_documents(llama_dir, text_file):
    # --chunks 1 of 16 tokens: documents in file order until they hold 16 tokens, each scored whole
    budget = forget(llama_dir, text=text_file, options=ForgetOptions(chunks=1, chunk_length=16, context=8))
    assert len(budget.documents) == 1 and budget.tokens == len(DOCS[0])
    two = forget(llama_dir, text=text_file, options=ForgetOptions(chunks=2, chunk_length=16, context=8))
    assert len(two.documents) == 2 and two.documents[0]["loss"] == pytest.approx(budget.documents[0]["loss"])
