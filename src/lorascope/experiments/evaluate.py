"""Test accuracy and forgetting of fine-tuned versions of one base on one task, measured as `train` does.

Used by the intervention recipe (scaled adapters/checkpoints): the test split is the run's
(`test_examples`, `max_length`), forgetting is the LM loss of the base LM head on the tuned backbone
minus the base model's, on the same held-out news chunks as `train`. With `train_layers = "top:N"` and
`cache_bottom`, the frozen bottom's output comes from the same on-disk cache entries `train` wrote (the
measured models differ from the base only in the top N blocks), so each model costs only its top blocks.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from lorascope.cache import cache_root
from lorascope.datasets import news_articles
from lorascope.errors import InputError
from lorascope.training.bottom import cache_key, compute_hidden, load_or_compute, model_fingerprint
from lorascope.training.config import TrainConfig
from lorascope.training.data import encode
from lorascope.training.lm import Chunks, causal_chunks, documents_for_tokens, needs_bos
from lorascope.training.modeling import (
    attach_backbone,
    find_blocks,
    lm_kind,
    load_lm,
    load_tokenizer,
    quiet_transformers,
)
from lorascope.training.registry import load_task, resolve_model
from lorascope.training.runners import CausalScorer, ExampleRunner, MaskedScorer


def load_classifier(model_dir: Path, tuned: Path | None, num_labels: int, pad_id: int) -> nn.Module:
    """The sequence classifier of `tuned`: a PEFT adapter on `model_dir`, or a full checkpoint (None: the base
    with a fresh head); eval mode."""
    from transformers import AutoModelForSequenceClassification

    with quiet_transformers():
        if tuned is None:
            model = AutoModelForSequenceClassification.from_pretrained(
                model_dir, num_labels=num_labels, dtype=torch.float32, pad_token_id=pad_id)
        elif (Path(tuned) / "adapter_config.json").is_file():
            from peft import PeftModel

            model = AutoModelForSequenceClassification.from_pretrained(
                model_dir, num_labels=num_labels, dtype=torch.float32, pad_token_id=pad_id)
            model = PeftModel.from_pretrained(model, tuned)
        elif (Path(tuned) / "config.json").is_file():
            model = AutoModelForSequenceClassification.from_pretrained(tuned, dtype=torch.float32,
                                                                       pad_token_id=pad_id)
        else:
            raise InputError(f"{tuned}: neither a PEFT adapter nor a model checkpoint")
    model.config.pad_token_id = pad_id
    return model.eval()


class TaskEvaluator:
    """Accuracy and forgetting of any fine-tune of `config.model` on `config.task` (base loss computed once)."""

    def __init__(self, config: TrainConfig, cache_dir: str | Path | None = None) -> None:
        self.config = config
        self.model_dir = resolve_model(config.model, cache_dir)
        self.task = load_task(config.task)
        self.tokenizer = load_tokenizer(self.model_dir)
        self.pad_id = int(self.tokenizer.pad_token_id)
        self.data = encode(self.tokenizer, self.task.test[:config.test_examples], config.max_length)
        self.kind = lm_kind(self.model_dir) if config.forget_chunks else None
        self.lm = load_lm(self.model_dir, self.kind) if self.kind is not None else None
        self.start, self.test_cache, self.text_cache = 0, None, None
        self.chunks: Chunks | list[list[int]] | None = self._text() if self.kind is not None else None
        if config.top_layers is not None and config.cache_bottom:
            self._load_caches(cache_root(cache_dir) / "hidden")
        self.base_loss = None
        if self.lm is not None:
            with torch.no_grad():
                self.base_loss = self._score(find_blocks(self.lm)[1])

    def _load_caches(self, root: Path) -> None:
        """The frozen bottom's output for the test examples and text chunks (train's cache entries)."""
        base = load_classifier(self.model_dir, None, len(self.task.labels), self.pad_id)
        _, blocks = find_blocks(base)
        self.start = len(blocks) - self.config.top_layers
        if self.start <= 0:
            self.start = 0
            return
        fp = model_fingerprint(self.model_dir)
        key = cache_key(fp, self.data.fingerprint(), self.start, self.config.max_length, "classify")
        run = lambda ids, mask: base(input_ids=ids, attention_mask=mask)  # noqa: E731
        self.test_cache = load_or_compute(root, key, lambda: compute_hidden(
            run, blocks, self.start, self.data.ids, self.pad_id, self.config.eval_batch_size))
        if isinstance(self.chunks, Chunks):
            lm_blocks = find_blocks(self.lm)[1]
            chunk_fp = hashlib.sha256(json.dumps(self.chunks.model_inputs).encode()).hexdigest()
            key = cache_key(fp, chunk_fp, self.start, self.config.forget_chunk_length, "lm")
            self.text_cache = load_or_compute(root, key, lambda: compute_hidden(
                lambda ids, mask: self.lm(input_ids=ids, attention_mask=mask), lm_blocks, self.start,
                self.chunks.model_inputs, self.pad_id, 8))

    def _text(self) -> Chunks | list[list[int]]:
        tok, length, n = self.tokenizer, self.config.forget_chunk_length, self.config.forget_chunks
        docs = documents_for_tokens(tok, news_articles(), n * length, seed=0)
        if self.kind == "masked":
            stream = [t for d in docs for t in d]
            body = length - 2
            return [p for p in (stream[i * body:(i + 1) * body] for i in range(n)) if p]
        bos = tok.bos_token_id if needs_bos(tok) else None
        return causal_chunks(docs, length, tok.eos_token_id, bos, max_chunks=n)

    def _score(self, blocks: nn.ModuleList) -> float:
        """LM loss of self.lm (whatever backbone it carries now) on the held-out chunks."""
        if self.kind == "masked":
            tok = self.tokenizer
            return MaskedScorer(self.lm, self.chunks, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id,
                                self.config.forget_chunk_length)().loss
        cache = self.text_cache if self.start else None
        return CausalScorer(self.lm, self.chunks, blocks, self.start, cache)().loss

    @torch.no_grad()
    def measure(self, tuned: str | Path) -> dict[str, float | None]:
        """{accuracy, lm_loss, forgetting} of the adapter or checkpoint `tuned`."""
        model = load_classifier(self.model_dir, Path(tuned), len(self.task.labels), self.pad_id)
        _, blocks = find_blocks(model)
        runner = ExampleRunner(model, self.data, self.pad_id, blocks, self.start, self.test_cache)
        accuracy = runner.accuracy(self.config.eval_batch_size)
        lm_loss = None
        if self.lm is not None:
            attach_backbone(self.lm, model)
            lm_loss = self._score(blocks)
        forgetting = None if lm_loss is None or self.base_loss is None else lm_loss - self.base_loss
        return {"accuracy": accuracy, "lm_loss": lm_loss, "forgetting": forgetting}
