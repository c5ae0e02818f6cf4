"""A small, honest fine-tuning loop for sequence classification: LoRA or full, seeded and shuffled.

The paper's recipe in miniature (AdamW without weight decay, linear schedule with 6% warm-up, every
linear matrix of attention and MLP adapted, the head always trained). Needs `transformers` and `peft`
(`pip install lorascope[train]`).
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from lorascope.datasets import TextTask

BERT_LINEAR = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")


@dataclass(frozen=True)
class FinetuneConfig:
    """What to train and how; defaults follow the paper's recipe scaled to a CPU."""

    method: Literal["lora", "full"] = "lora"
    rank: int = 8
    alpha: float = 16.0
    lr: float = 1e-3
    steps: int = 300
    batch_size: int = 16
    max_length: int = 64
    seed: int = 0
    warmup: float = 0.06
    target_modules: tuple[str, ...] = BERT_LINEAR


def _batches(rows: list[tuple[str, int]], size: int, rng: random.Random):
    while True:
        order = list(range(len(rows)))
        rng.shuffle(order)
        for i in range(0, len(order) - size + 1, size):
            yield [rows[j] for j in order[i:i + size]]


def finetune_classifier(model_dir: Path, task: TextTask, cfg: FinetuneConfig,
                        progress: Callable[[int, float], None] | None = None):
    """Fine-tune `model_dir` on `task`; returns (model, tokenizer). LoRA models come back as PeftModel."""
    import transformers
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    transformers.logging.set_verbosity_error()  # the load report about the fresh head is expected noise here
    transformers.logging.disable_progress_bar()
    torch.manual_seed(cfg.seed)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=len(task.labels))
    if cfg.method == "lora":
        from peft import LoraConfig, get_peft_model

        with warnings.catch_warnings():  # peft calls a transformers method that v5 deprecates
            warnings.simplefilter("ignore", FutureWarning)
            model = get_peft_model(model, LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha,
                                                     target_modules=list(cfg.target_modules), task_type="SEQ_CLS"))
    else:
        for name, p in model.named_parameters():
            is_target = name.endswith(".weight") and any(name.endswith(f"{t}.weight") for t in cfg.target_modules)
            p.requires_grad = is_target or name.startswith(("classifier", "score"))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    sched = get_linear_schedule_with_warmup(opt, math.ceil(cfg.warmup * cfg.steps), cfg.steps)
    batches = _batches(task.train, cfg.batch_size, random.Random(cfg.seed))
    model.train()
    for step in range(cfg.steps):
        batch = next(batches)
        enc = tok([t for t, _ in batch], truncation=True, max_length=cfg.max_length, padding=True, return_tensors="pt")
        out = model(**enc, labels=torch.tensor([y for _, y in batch]))
        out.loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if progress is not None:
            progress(step + 1, out.loss.item())
    model.eval()
    return model, tok


@torch.no_grad()
def accuracy(model, tok, rows: list[tuple[str, int]], max_length: int = 64, batch_size: int = 64) -> float:
    """Fraction of `rows` the classifier labels correctly."""
    model.eval()
    correct = 0
    for i in range(0, len(rows), batch_size):
        chunk = rows[i:i + batch_size]
        enc = tok([t for t, _ in chunk], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        pred = model(**enc).logits.argmax(-1)
        correct += int((pred == torch.tensor([y for _, y in chunk])).sum())
    return correct / max(len(rows), 1)
