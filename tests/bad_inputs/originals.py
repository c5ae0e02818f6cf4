"""The healthy inputs the bad-input corpus damages: tiny saved models, an adapter, a scan JSON, some text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from peft import LoraConfig

from fixtures import models
from training import toys


@dataclass(frozen=True)
class Originals:
    """Healthy inputs (never modified: every case damages its own copy)."""

    base: Path  # tiny LLaMA, one model.safetensors, float32
    sharded: Path  # the same model in several shards with model.safetensors.index.json
    adapter: Path  # PEFT LoRA r=2 on q_proj and down_proj of `base`
    tuned: Path  # a full fine-tune stand-in of `base` (every weight moved a little)
    trainable: Path  # tiny LLaMA with a tokenizer, for train/forget
    scan_json: Path  # a healthy scan JSON, for report
    text: Path  # held-out text, one document per line


def build_originals(root: Path) -> Originals:
    """Save every original under `root` (seeded: the same bytes on every run)."""
    model = models.build("llama")
    base = models.save_model(model, root / "base")
    sharded = models.save_model(model, root / "sharded", max_shard_size="40KB")
    adapter = models.make_adapter(model, root / "adapter",
                                  LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "down_proj"])).path
    tuned = models.save_model(models.perturbed(model), root / "tuned")
    trainable = toys.tiny_llama_dir(root / "trainable", layers=2)
    import lorascope

    scan_json = lorascope.scan(base, adapter, k=2, cache=False).save_json(root / "scan.json")
    text = root / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog.\nanother line of held-out text.\n")
    return Originals(base, sharded, adapter, tuned, trainable, scan_json, text)
