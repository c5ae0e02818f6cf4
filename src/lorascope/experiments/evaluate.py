"""Test accuracy and forgetting of fine-tuned versions of one base on one task, measured as `train` does.

Used by the intervention recipe (scaled adapters/checkpoints) and the continual recipe (merged stages):
the test split is the run's (`test_examples`, `max_length`), forgetting is the LM loss of the base LM
head on the tuned backbone minus the base model's, on the same held-out news chunks as `train`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lorascope.datasets import news_articles
from lorascope.errors import InputError
from lorascope.training.config import TrainConfig
from lorascope.training.data import encode
from lorascope.training.lm import causal_chunks, documents_for_tokens, needs_bos
from lorascope.training.modeling import attach_backbone, lm_kind, load_lm, load_tokenizer, quiet_transformers
from lorascope.training.registry import load_task, resolve_model
from lorascope.training.runners import CausalScorer, ExampleRunner, MaskedScorer


def load_classifier(model_dir: Path, tuned: Path, num_labels: int, pad_id: int) -> nn.Module:
    """The sequence classifier of `tuned`: a PEFT adapter on `model_dir`, or a full checkpoint; eval mode."""
    from transformers import AutoModelForSequenceClassification

    tuned = Path(tuned)
    with quiet_transformers():
        if (tuned / "adapter_config.json").is_file():
            from peft import PeftModel

            model = AutoModelForSequenceClassification.from_pretrained(
                model_dir, num_labels=num_labels, dtype=torch.float32, pad_token_id=pad_id)
            model = PeftModel.from_pretrained(model, tuned)
        elif (tuned / "config.json").is_file():
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
        self.data = encode(self.tokenizer, self.task.test[:config.test_examples], config.max_length)
        kind = lm_kind(self.model_dir) if config.forget_chunks else None
        self.lm = load_lm(self.model_dir, kind) if kind is not None else None
        self.scorer = self._scorer(kind) if kind is not None else None
        with torch.no_grad():
            self.base_loss = self.scorer().loss if self.scorer is not None else None

    def _scorer(self, kind: str):
        tok, length, n = self.tokenizer, self.config.forget_chunk_length, self.config.forget_chunks
        docs = documents_for_tokens(tok, news_articles(), n * length, seed=0)
        if kind == "masked":
            stream = [t for d in docs for t in d]
            body = length - 2
            pieces = [p for p in (stream[i * body:(i + 1) * body] for i in range(n)) if p]
            return MaskedScorer(self.lm, pieces, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id, length)
        bos = tok.bos_token_id if needs_bos(tok) else None
        return CausalScorer(self.lm, causal_chunks(docs, length, tok.eos_token_id, bos, max_chunks=n))

    @torch.no_grad()
    def measure(self, tuned: str | Path) -> dict[str, float | None]:
        """{accuracy, lm_loss, forgetting} of the adapter or checkpoint `tuned`."""
        model = load_classifier(self.model_dir, Path(tuned), len(self.task.labels),
                                int(self.tokenizer.pad_token_id))
        accuracy = ExampleRunner(model, self.data, int(self.tokenizer.pad_token_id)).accuracy(
            self.config.eval_batch_size)
        lm_loss = None
        if self.scorer is not None:
            attach_backbone(self.lm, model)
            lm_loss = self.scorer().loss
        forgetting = None if lm_loss is None or self.base_loss is None else lm_loss - self.base_loss
        return {"accuracy": accuracy, "lm_loss": lm_loss, "forgetting": forgetting}
