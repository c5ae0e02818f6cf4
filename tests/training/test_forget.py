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


def test_causal_loss_equals_hand_reference(llama_dir, text_file):
    expected, per_doc = reference_causal(llama_dir, DOCS, length=16)
    result = forget(llama_dir, text=text_file, options=ForgetOptions(chunk_length=16, batch_size=3))
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

    opts = ForgetOptions(chunk_length=16)
    result = forget(llama_dir, adapter=tmp_path / "adapter", text=text_file, options=opts)
    tuned, _ = reference_causal(merged_dir, DOCS, 16)
    base, _ = reference_causal(llama_dir, DOCS, 16)
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
    result = forget(bert_mlm_dir, text=text_file, options=ForgetOptions(chunk_length=length, batch_size=1))
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
