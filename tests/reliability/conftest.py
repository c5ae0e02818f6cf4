"""Models for the kill and concurrency tests, built once per session: a 72-matrix RoBERTa-shaped base, a full
fine-tune and a LoRA adapter of it, and a tiny LLaMA with a tokenizer for training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from peft import LoraConfig

from fixtures import models
from training import toys


@dataclass(frozen=True)
class Saved:
    base: Path
    tuned: Path
    adapter: Path
    trainable: Path


@pytest.fixture(scope="session")
def saved(tmp_path_factory) -> Saved:
    root = tmp_path_factory.mktemp("reliability")
    model = models.tiny_roberta()
    base = models.save_model(model, root / "base")
    tuned = models.save_model(models.perturbed(model), root / "tuned")
    adapter = models.make_adapter(model, root / "adapter",
                                  LoraConfig(r=2, target_modules=["query", "value", "dense"])).path
    return Saved(base, tuned, adapter, toys.tiny_llama_dir(root / "llama", layers=2))
