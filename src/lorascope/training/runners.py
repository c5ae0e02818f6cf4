"""Forward passes the recipe needs, through the cached frozen bottom when there is one."""

from __future__ import annotations

import torch
from torch import nn

from lorascope.training.bottom import HiddenCache, inject_block_input
from lorascope.training.data import Encoded, pad_right
from lorascope.training.lm import Chunks, LossResult, causal_loss, pseudo_loss


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
        """Fraction of the split's examples classified correctly."""
        n = len(self.data)
        correct = 0
        for b in range(0, n, batch_size):
            idx = list(range(b, min(n, b + batch_size)))
            correct += int((self.logits(idx).argmax(-1) == self.labels(idx)).sum())
        return correct / n if n else float("nan")


class CausalScorer:
    """Mean next-token loss of an LM (base head, tuned backbone) on fixed chunks of held-out text."""

    def __init__(self, lm: nn.Module, chunks: Chunks, blocks: nn.ModuleList | None = None, start: int = 0,
                 cache: HiddenCache | None = None, batch_size: int = 8) -> None:
        self.lm, self.chunks, self.blocks, self.start, self.cache = lm, chunks, blocks, start, cache
        self.batch_size = batch_size

    def _logits(self, ids: torch.Tensor, idx: list[int]) -> torch.Tensor:
        if self.cache is None:
            return self.lm(input_ids=ids).logits
        with inject_block_input(self.blocks, self.start, self.cache.batch(idx, ids.shape[1])):
            return self.lm(input_ids=ids).logits

    def __call__(self) -> LossResult:
        return causal_loss(self._logits, self.chunks, self.batch_size)


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
