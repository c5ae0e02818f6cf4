"""The causal-LM objective: next-token training on the task's texts (no labels), the instruction- or
domain-tuning case, and its quality measure, the held-out task loss.

What trains is the causal LM itself (not a classifier): LoRA on every linear matrix of the chosen
blocks (PEFT task type CAUSAL_LM) or those matrices fully; embeddings, norms, biases and the LM head
stay frozen. Each text is tokenised with the tokenizer's own special tokens (BOS when it adds one),
truncated to max_length; every next-token target after the first token is scored, padding never.
The task loss is the token-weighted mean over the split; its perplexity is exp(task loss).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from lorascope.errors import InputError
from lorascope.training.bottom import HiddenCache, inject_block_input
from lorascope.training.data import Encoded, pad_right
from lorascope.training.lm import LOGIT_TOKENS, token_nll
from lorascope.training.modeling import (
    Classifier,
    find_blocks,
    load_tokenizer,
    quiet_transformers,
    set_trainable,
    unwrap,
)
from lorascope.training.runners import LMHead, length_batches


def build_causal_lm(model_dir: Path, method: Literal["lora", "full"], rank: int, alpha: float | None,
                    top: int | None, seed: int, freeze_a: bool = False) -> Classifier:
    """Load `model_dir` as a causal LM and set up what trains (no task head: `head` is empty)."""
    from transformers import AutoModelForCausalLM

    tok = load_tokenizer(model_dir)
    torch.manual_seed(seed)
    with quiet_transformers():
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model, first, matrices = set_trainable(model, model_dir, method, rank, alpha, top, seed, freeze_a,
                                           task_type="CAUSAL_LM")
    _, blocks = find_blocks(model)
    return Classifier(model, tok, blocks, first, matrices, [], int(tok.pad_token_id))


class TokenLossRunner:
    """Next-token losses of a causal LM on the examples of one split, by index (whole model, or the top blocks
    on cached states)."""

    def __init__(self, model: nn.Module, data: Encoded, pad_id: int, blocks: nn.ModuleList | None = None,
                 start: int = 0, cache: HiddenCache | None = None) -> None:
        self.model, self.data, self.pad_id = model, data, pad_id
        self.blocks, self.start, self.cache = blocks, start, cache

    def token_losses(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L-1) per-target losses and their (B, L-1) mask (1 for a real target, 0 for padding)."""
        ids, mask = pad_right([self.data.ids[i] for i in indices], self.pad_id)
        if self.cache is None:
            logits = self.model(input_ids=ids, attention_mask=mask).logits
        else:
            with inject_block_input(self.blocks, self.start, self.cache.batch(indices, ids.shape[1])):
                logits = self.model(input_ids=ids, attention_mask=mask).logits
        logits = logits[:, :-1].float()
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
        return nll.view(ids.shape[0], -1), mask[:, 1:].to(nll.dtype)

    def loss(self, indices: list[int]) -> torch.Tensor:
        """Mean next-token loss over every real target of the examples `indices` (the training loss)."""
        nll, mask = self.token_losses(indices)
        count = mask.sum()
        if count == 0:
            raise InputError("a training batch holds no next-token target (every text is a single token)")
        return (nll * mask).sum() / count

    @torch.no_grad()
    def task_loss(self, batch_size: int = 32, logit_tokens: int = LOGIT_TOKENS) -> tuple[float, int]:
        """(token-weighted mean next-token loss over the split, number of targets).

        Only real targets reach the LM head, `logit_tokens` at a time (lm.token_nll): a batch never holds its
        B × L × vocab logits (2 GiB for 32 × 64 tokens of Gemma-3's 262k vocabulary).
        """
        inner = unwrap(self.model)
        backbone, head = getattr(inner, inner.base_model_prefix), LMHead.of(self.model)
        total, count = 0.0, 0
        for indices in length_batches(self.data.ids, batch_size):
            ids, mask = pad_right([self.data.ids[i] for i in indices], self.pad_id)
            if self.cache is None:
                hidden = backbone(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
            else:
                with inject_block_input(self.blocks, self.start, self.cache.batch(indices, ids.shape[1])):
                    hidden = backbone(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
            real = mask[:, 1:].bool()
            nll = token_nll(head, hidden[:, :-1][real], ids[:, 1:][real], logit_tokens)
            total += float(nll.sum())
            count += int(real.sum())
        return (total / count if count else float("nan")), count


def perplexity(loss: float) -> float:
    """exp(loss), inf when it overflows."""
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")
