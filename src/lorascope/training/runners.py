"""Forward passes the recipe needs, through the cached frozen bottom when there is one."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lorascope.errors import InputError
from lorascope.training.bottom import HiddenCache, inject_block_input
from lorascope.training.data import Encoded, pad_right
from lorascope.training.lm import LOGIT_TOKENS, Chunks, LossResult, causal_loss, pseudo_loss
from lorascope.training.modeling import unwrap


class ExampleRunner:
    """Classifier logits for examples of one split, by index (whole model, or top blocks on cached states)."""

    def __init__(self, model: nn.Module, data: Encoded, pad_id: int, blocks: nn.ModuleList | None = None,
                 start: int = 0, cache: HiddenCache | None = None) -> None:
        self.model, self.data, self.pad_id = model, data, pad_id
        self.blocks, self.start, self.cache = blocks, start, cache

    def logits(self, indices: list[int]) -> torch.Tensor:
        """(B, labels) logits of examples `indices`."""
        ids, mask = pad_right([self.data.ids[i] for i in indices], self.pad_id)
        if self.cache is None:
            return self.model(input_ids=ids, attention_mask=mask).logits
        hidden = self.cache.batch(indices, ids.shape[1])
        with inject_block_input(self.blocks, self.start, hidden):
            return self.model(input_ids=ids, attention_mask=mask).logits

    def labels(self, indices: list[int]) -> torch.Tensor:
        return torch.tensor([self.data.labels[i] for i in indices], dtype=torch.long)

    @torch.no_grad()
    def accuracy(self, batch_size: int = 32) -> float:
        """Fraction of the split's examples classified correctly; batches of similar length, so little padding
        is computed (each example's answer does not depend on its batch)."""
        n = len(self.data)
        correct = 0
        for idx in length_batches(self.data.ids, batch_size):
            correct += int((self.logits(idx).argmax(-1) == self.labels(idx)).sum())
        return correct / n if n else float("nan")


def length_batches(seqs: list[list[int]], batch_size: int) -> list[list[int]]:
    """Indices of `seqs` in batches of at most `batch_size`, shortest first: an evaluation pads each batch
    to its own longest sequence, so sorted batches pad little (rt_polarity at 64 tokens: about half)."""
    order = sorted(range(len(seqs)), key=lambda i: (len(seqs[i]), i))
    return [order[b:b + batch_size] for b in range(0, len(order), batch_size)]


@dataclass(frozen=True)
class LMHead:
    """Final hidden states to logits exactly as a causal LM's forward does it: its output embedding, then
    the final logit soft-capping (Gemma 2/3: cap · tanh(logits / cap)) when its config sets one."""

    linear: nn.Module
    softcap: float | None = None

    @classmethod
    def of(cls, lm: nn.Module) -> LMHead:
        """The head of `lm` (a transformers causal LM, or a PEFT wrapper around one)."""
        inner = unwrap(lm)
        config = inner.config.get_text_config() if hasattr(inner.config, "get_text_config") else inner.config
        return cls(inner.get_output_embeddings(), getattr(config, "final_logit_softcapping", None))

    def __call__(self, states: torch.Tensor) -> torch.Tensor:
        logits = self.linear(states)
        if self.softcap is not None:  # Gemma3ForCausalLM.forward's three operations, in place (no extra copy)
            logits.div_(self.softcap).tanh_().mul_(self.softcap)
        return logits


PROBE_TOKENS = 8  # tokens of the check that the split head reproduces the model's own logits


class CausalScorer:
    """Mean next-token loss of an LM (base head, tuned backbone) on fixed chunks of held-out text.

    The backbone gives final hidden states and the head turns only the scored positions into logits, a slice
    at a time (lorascope.training.lm.causal_loss): a long window never holds its L × vocab logits.
    """

    def __init__(self, lm: nn.Module, chunks: Chunks, blocks: nn.ModuleList | None = None, start: int = 0,
                 cache: HiddenCache | None = None, batch_size: int = 8, logit_tokens: int = LOGIT_TOKENS) -> None:
        self.lm, self.chunks, self.blocks, self.start, self.cache = lm, chunks, blocks, start, cache
        self.batch_size, self.logit_tokens = batch_size, logit_tokens
        inner = unwrap(lm)
        self.backbone = getattr(inner, inner.base_model_prefix)
        self.head = LMHead.of(lm)

    def _states(self, ids: torch.Tensor) -> torch.Tensor:
        return self.backbone(input_ids=ids, use_cache=False).last_hidden_state

    def hidden(self, ids: torch.Tensor, idx: list[int]) -> torch.Tensor:
        """(B, L, hidden) final hidden states of chunks `idx`'s model inputs `ids` (B, L)."""
        if self.cache is None:
            return self._states(ids)
        with inject_block_input(self.blocks, self.start, self.cache.batch(idx, ids.shape[1])):
            return self._states(ids)

    @torch.no_grad()
    def check_head(self) -> None:
        """Raise InputError unless head(backbone(x)) equals the model's own logits on a few tokens of the text
        (a model that scales or shifts its logits some other way cannot be scored in slices)."""
        if not self.chunks.input_ids:
            return
        probe = torch.tensor([self.chunks.model_inputs[0][:PROBE_TOKENS]], dtype=torch.long)
        expected = self.lm(input_ids=probe, use_cache=False).logits.float()
        got = self.head(self._states(probe)).float()
        if got.shape != expected.shape or not torch.allclose(got, expected, rtol=1e-5, atol=1e-5):
            raise InputError(f"{type(unwrap(self.lm)).__name__}: its logits are not its output embedding "
                             f"(and final soft-capping) on its backbone's last hidden states; the held-out "
                             f"loss cannot be computed for it")

    def __call__(self) -> LossResult:
        self.check_head()
        return causal_loss(self.hidden, self.head, self.chunks, self.batch_size, self.logit_tokens)


class MaskedScorer:
    """Pseudo-loss of a masked LM (base head, tuned backbone) on fixed pieces of held-out text."""

    def __init__(self, lm: nn.Module, doc_ids: list[list[int]], cls_id: int, sep_id: int, mask_id: int,
                 length: int, batch_size: int = 64) -> None:
        self.lm, self.doc_ids = lm, doc_ids
        self.ids = (cls_id, sep_id, mask_id)
        self.length, self.batch_size = length, batch_size

    def __call__(self) -> LossResult:
        cls_id, sep_id, mask_id = self.ids
        return pseudo_loss(lambda ids, mask: self.lm(input_ids=ids, attention_mask=mask).logits, self.doc_ids,
                           cls_id, sep_id, mask_id, self.length, self.batch_size)
