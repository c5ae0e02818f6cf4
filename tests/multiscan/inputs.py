"""A tiny base model with a sweep folder of two real PEFT adapters and one full fine-tune, for multi-input scans."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from peft import LoraConfig

from fixtures import models

TARGETS = (["q_proj", "v_proj", "down_proj"], ["q_proj", "o_proj", "up_proj", "gate_proj"])


@dataclass(frozen=True)
class Inputs:
    base: Path
    sweep: Path  # holds checkpoint-5 and checkpoint-10 (adapters) and a file that is not a model
    adapters: list[Path]  # in natural order: checkpoint-5, checkpoint-10
    full: Path


def make_inputs(root: Path) -> Inputs:
    """Write the base (tiny llama, 14 linear matrices), two adapters of different targets and a full fine-tune."""
    model = models.build("llama")
    models.save_model(model, root / "base")
    adapters = []
    for step, targets in zip((5, 10), TARGETS, strict=True):
        art = models.make_adapter(model, root / "sweep" / f"checkpoint-{step}",
                                  LoraConfig(r=4, lora_alpha=8, target_modules=targets), seed=step)
        adapters.append(art.path)
    (root / "sweep" / "trainer_state.json").write_text(json.dumps({"note": "not a model"}))
    models.save_model(models.perturbed(model, scale=0.02), root / "full")
    return Inputs(root / "base", root / "sweep", adapters, root / "full")


def without_seconds(data: dict) -> dict:
    """A scan's JSON less its wall time, the one field that differs between two runs of the same scan."""
    return {k: v for k, v in data.items() if k != "seconds"}


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
