"""The causal held-out loss computed from final hidden states with the LM head applied a slice of positions at
a time (bounded logits) equals the loss from the model's whole (B, L, vocab) logits, on tiny LLaMA, GPT-2 and
Gemma 3 (with and without Gemma's final logit soft-capping), and the head never sees more than a slice."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lorascope.errors import InputError
from lorascope.training.lm import Chunks, LossResult, causal_chunks, causal_loss, rolling_chunks
from lorascope.training.runners import PROBE_TOKENS, CausalScorer, LMHead
from training import toys

VOCAB = 64


def full_logits_loss(logits_of, chunks: Chunks, batch_size: int = 8) -> LossResult:
    """The loss as it was computed before slicing: each batch's whole (B, L, vocab) logits, then cross-entropy."""
    sums, counts = [0.0] * chunks.n_docs, [0] * chunks.n_docs
    total, n = 0.0, 0
    by_length: dict[int, list[int]] = {}
    for c, ids in enumerate(chunks.input_ids):
        by_length.setdefault(len(ids), []).append(c)
    for _, members in sorted(by_length.items()):
        for b in range(0, len(members), batch_size):
            idx = members[b:b + batch_size]
            ids = torch.tensor([chunks.input_ids[c] for c in idx])
            with torch.no_grad():
                logits = logits_of(ids[:, :-1]).float()
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                                  reduction="none").view(len(idx), -1).double()
            for row, c in enumerate(idx):
                values = nll[row, nll.shape[1] - len(chunks.target_docs[c]):].tolist()
                for value, d in zip(values, chunks.target_docs[c], strict=True):
                    sums[d] += value
                    counts[d] += 1
                total += sum(values)
                n += len(values)
    return LossResult(total / n, n, sums, counts)


def documents(seed: int = 0, lengths=(1, 5, 47, 48, 49, 130, 203)) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(3, VOCAB) for _ in range(n)] for n in lengths]


def llama(tmp_path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(toys.tiny_llama_dir(tmp_path / "llama")).eval()


def gpt2(tmp_path: Path):
    from fixtures.models import tiny_gpt2

    return tiny_gpt2(n_positions=256)


def gemma3(tmp_path: Path, softcap: float | None = None):
    from transformers import Gemma3ForCausalLM

    lm = Gemma3ForCausalLM.from_pretrained(toys.tiny_gemma3_dir(tmp_path / "gemma")).eval()
    lm.config.final_logit_softcapping = softcap  # the model's forward reads it on each call
    return lm


MODELS = {"llama": llama, "gpt2": gpt2, "gemma3": gemma3, "gemma3_softcap": lambda p: gemma3(p, softcap=0.25)}


def assert_same_loss(got: LossResult, want: LossResult) -> None:
    assert got.tokens == want.tokens and got.doc_tokens == want.doc_tokens
    assert got.loss == pytest.approx(want.loss, rel=1e-6, abs=0)
    for s, w in zip(got.doc_loss_sum, want.doc_loss_sum, strict=True):
        assert s == pytest.approx(w, rel=1e-6, abs=0)


@pytest.mark.parametrize("arch", sorted(MODELS))
@pytest.mark.parametrize("mode", ["rolling", "stream"])
def test_sliced_loss_equals_the_full_logits_loss(arch, mode, tmp_path):
    lm = MODELS[arch](tmp_path)
    docs = documents()
    chunks = (rolling_chunks(docs, 48, prefix=1) if mode == "rolling"
              else causal_chunks(docs, 40, eos_id=2, bos_id=1))
    want = full_logits_loss(lambda ids: lm(input_ids=ids).logits, chunks, batch_size=3)
    assert want.tokens == sum(map(len, docs)) + (len(docs) if mode == "stream" else 0)
    for logit_tokens in (1, 7, 256):  # slices across rows and windows, and one slice for a whole batch
        scorer = CausalScorer(lm, chunks, batch_size=3, logit_tokens=logit_tokens)
        assert_same_loss(scorer(), want)


def test_gemma_head_soft_caps_as_the_model_does(tmp_path):
    lm = gemma3(tmp_path, softcap=0.25)
    head = LMHead.of(lm)
    assert head.softcap == 0.25
    ids = torch.tensor([documents(lengths=(20,))[0]])
    with torch.no_grad():
        logits = lm(input_ids=ids).logits
        states = lm.model(input_ids=ids).last_hidden_state
        assert torch.equal(head(states), logits)
        assert logits.abs().max() < 0.25 < lm.lm_head(states).abs().max()  # the cap binds on this model


def test_adapter_wrapped_lm_scores_as_its_merged_model(tmp_path):
    from peft import LoraConfig, get_peft_model

    from fixtures.models import randomize_lora

    lm = gemma3(tmp_path, softcap=0.25)
    peft = get_peft_model(lm, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "down_proj"]))
    randomize_lora(peft, seed=3, scale=0.3)
    peft.eval()
    chunks = rolling_chunks(documents(), 48, prefix=1)
    want = full_logits_loss(lambda ids: peft(input_ids=ids).logits, chunks, batch_size=3)
    assert_same_loss(CausalScorer(peft, chunks, batch_size=3, logit_tokens=5)(), want)


def test_head_never_holds_more_than_a_slice_of_logits(tmp_path):
    lm = llama(tmp_path)
    window, budget = 200, 16
    chunks = rolling_chunks(documents(lengths=(600, 450)), window, prefix=1)
    rows: list[int] = []
    hook = lm.lm_head.register_forward_hook(lambda m, args, out: rows.append(out[..., 0].numel()))
    try:
        full = full_logits_loss(lambda ids: lm(input_ids=ids).logits, chunks)
        full_rows, rows[:] = max(rows), []
        sliced = CausalScorer(lm, chunks, logit_tokens=budget)()
    finally:
        hook.remove()
    assert_same_loss(sliced, full)
    assert full_rows >= 2 * window  # the old path held whole windows' logits at once
    assert rows[:2] == [PROBE_TOKENS, PROBE_TOKENS]  # the head check: the model's own forward, then ours
    assert max(rows) <= budget and sum(rows[2:]) == sliced.tokens == 1050  # each scored position once


def test_lm_whose_logits_are_not_its_head_is_refused(tmp_path):
    from transformers import LlamaForCausalLM

    class ScaledLogits(LlamaForCausalLM):
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 1.5
            return out

    lm = ScaledLogits.from_pretrained(toys.tiny_llama_dir(tmp_path / "llama")).eval()
    with pytest.raises(InputError, match="ScaledLogits: its logits are not its output embedding"):
        CausalScorer(lm, rolling_chunks(documents(), 48, prefix=1))()


def test_causal_loss_refuses_states_of_the_wrong_shape():
    chunks = rolling_chunks(documents(lengths=(10,)), 48, prefix=1)
    with pytest.raises(ValueError, match="hidden_of gave states of shape"):
        causal_loss(lambda ids, idx: torch.zeros(ids.shape[0], ids.shape[1] - 1, 4), lambda h: h, chunks)


def test_forget_guard_counts_one_slice_of_logits_for_long_documents(tmp_path):
    from lorascope.pipelines.forget import ForgetOptions, forget_text
    from lorascope.pipelines.memory_guard import check_forget_memory
    from lorascope.training.lm import LOGIT_TOKENS, causal_batches
    from lorascope.training.modeling import load_tokenizer

    model_dir = toys.tiny_llama_dir(tmp_path / "llama")
    text = tmp_path / "long.txt"
    text.write_text("the quick brown fox jumps. " * 60 + "\n")  # one document of 1,620 tokens
    held_out = forget_text(load_tokenizer(model_dir), "causal", text, ForgetOptions(context=200))
    assert [len(idx) for idx in causal_batches(held_out.chunks, 8)] == [8, 1]  # 9 windows of 201 tokens
    parts = dict(check_forget_memory(model_dir, held_out).parts)
    assert parts[f"logits of {LOGIT_TOKENS} positions at a time"] == 2 * 4 * LOGIT_TOKENS * VOCAB  # not 8 × 201
