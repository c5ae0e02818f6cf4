"""Task quality and forgetting of fine-tuned versions of one base on one task, measured as `train` does.

Used by the intervention recipe (scaled adapters/checkpoints): the test split is the run's
(`test_examples`, `max_length`; a registered task or the run's data files), quality is accuracy or,
for the lm objective, the held-out task loss; forgetting is the LM loss of the base LM head on the
tuned backbone (lm objective: of the tuned causal LM) minus the base model's, on the same held-out
text, cut and scored as `train` does (pipelines/forget.py). With `train_layers = "top:N"` and
`cache_bottom`, the frozen bottom's output comes from the same on-disk cache entries `train` wrote (the
measured models differ from the base only in the top N blocks), so each model costs only its top blocks.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lorascope.cache import cache_root
from lorascope.pipelines.forget import ForgetOptions, forget_text
from lorascope.pipelines.quality import QualityScorer
from lorascope.pipelines.train import base_loss_key_of, load_run_task, text_fingerprint
from lorascope.training.bottom import (
    cache_key,
    compute_hidden,
    load_or_compute,
    load_or_compute_number,
    model_fingerprint,
)
from lorascope.training.config import TrainConfig
from lorascope.training.lm import context_length
from lorascope.training.modeling import attach_backbone, find_blocks, lm_kind, load_lm, load_tokenizer
from lorascope.training.registry import resolve_model
from lorascope.training.tuned import load_tuned_classifier, load_tuned_lm


def load_classifier(model_dir: Path, tuned: Path | None, num_labels: int, pad_id: int) -> nn.Module:
    """The sequence classifier of `tuned` (training.tuned.load_tuned_classifier)."""
    return load_tuned_classifier(model_dir, tuned, num_labels, pad_id)


class TaskEvaluator:
    """Quality and forgetting of any fine-tune of `config.model` on the run's task (base loss computed once)."""

    def __init__(self, config: TrainConfig, cache_dir: str | Path | None = None) -> None:
        self.config = config
        self.model_dir = resolve_model(config.model, cache_dir)
        self.task = load_run_task(config)
        self.lm_objective = config.objective == "lm"
        self.tokenizer = load_tokenizer(self.model_dir)
        self.pad_id = int(self.tokenizer.pad_token_id)
        self.quality = QualityScorer(self.tokenizer, self.task, config.objective, config.max_length,
                                     config.eval_batch_size, config.test_examples)
        self.data = self.quality.data
        self.kind = lm_kind(self.model_dir) if config.forget_chunks else None
        self.lm = load_lm(self.model_dir, self.kind) if self.kind is not None and not self.lm_objective else None
        self.text = None
        if self.kind is not None:
            options = ForgetOptions(chunks=config.forget_chunks, chunk_length=config.forget_chunk_length,
                                    mode=config.forget_mode, context=config.forget_context,
                                    text_column=config.forget_text_column)
            self.text = forget_text(self.tokenizer, self.kind, config.forget_text, options,
                                    context_length(self._base().config))
        self.start, self.test_cache, self.text_cache, self.base_loss_key = 0, None, None, None
        root = cache_root(cache_dir) / "hidden"
        if config.top_layers is not None and config.cache_bottom:
            self._load_caches(root)
        self.base_loss = None
        if self.text is not None:
            def base_loss() -> float:
                base = self.lm if self.lm is not None else load_tuned_lm(self.model_dir, None)
                with torch.no_grad():
                    return self._score(base, find_blocks(base)[1])

            # train's step 0 keeps the same number under the same key
            self.base_loss = (load_or_compute_number(root, self.base_loss_key, base_loss)
                              if self.base_loss_key is not None else base_loss())

    def _base(self) -> nn.Module:
        """The base model in the form the objective trains (a sequence classifier or the causal LM)."""
        if self.lm_objective:
            return load_tuned_lm(self.model_dir, None)
        return load_classifier(self.model_dir, None, len(self.task.labels), self.pad_id)

    def _load_caches(self, root: Path) -> None:
        """The frozen bottom's output for the test examples and text windows (train's cache entries)."""
        base = self._base()
        _, blocks = find_blocks(base)
        self.start = len(blocks) - self.config.top_layers
        if self.start <= 0:
            self.start = 0
            return
        fp = model_fingerprint(self.model_dir)
        kind = "lm-task" if self.lm_objective else "classify"
        key = cache_key(fp, self.data.fingerprint(), self.start, self.config.max_length, kind)
        run = lambda ids, mask: base(input_ids=ids, attention_mask=mask)  # noqa: E731
        self.test_cache = load_or_compute(root, key, lambda: compute_hidden(
            run, blocks, self.start, self.data.ids, self.pad_id, self.config.eval_batch_size))
        if self.text is not None and self.text.chunks is not None:
            lm = self.lm if self.lm is not None else base
            inputs = self.text.chunks.model_inputs
            text_fp = text_fingerprint(self.text)
            key = cache_key(fp, text_fp, self.start, self.config.forget_chunk_length, "lm")
            self.base_loss_key = base_loss_key_of(fp, self.text, self.start, self.config.forget_chunk_length)
            self.text_cache = load_or_compute(root, key, lambda: compute_hidden(
                lambda ids, mask: lm(input_ids=ids, attention_mask=mask), find_blocks(lm)[1], self.start,
                inputs, self.pad_id, 8))

    def _score(self, lm: nn.Module, blocks: nn.ModuleList) -> float:
        """LM loss of `lm` (whatever backbone it carries now) on the held-out text."""
        cache = self.text_cache if self.start else None
        return self.text.score(lm, blocks, self.start, cache).loss

    @torch.no_grad()
    def measure(self, tuned: str | Path) -> dict[str, float | str | None]:
        """{quality_metric, accuracy, task_loss, task_perplexity, lm_loss, forgetting} of the adapter or
        checkpoint `tuned`."""
        if self.lm_objective:
            model = load_tuned_lm(self.model_dir, Path(tuned))
        else:
            model = load_classifier(self.model_dir, Path(tuned), len(self.task.labels), self.pad_id)
        _, blocks = find_blocks(model)
        quality = self.quality.measure(model, blocks, self.start, self.test_cache)
        lm_loss = None
        if self.text is not None:
            lm = model if self.lm_objective else attach_backbone(self.lm, model)
            lm_loss = self._score(lm, blocks)
        forgetting = None if lm_loss is None or self.base_loss is None else lm_loss - self.base_loss
        return {"quality_metric": quality.metric, "accuracy": quality.accuracy, "task_loss": quality.task_loss,
                "task_perplexity": quality.task_perplexity, "lm_loss": lm_loss, "forgetting": forgetting}
