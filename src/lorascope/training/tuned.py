"""A fine-tune loaded for measuring: a PEFT adapter on its base, or a full checkpoint, as the model type
the task needs (a sequence classifier, or a causal LM)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lorascope.errors import InputError
from lorascope.training.modeling import quiet_transformers


def load_tuned_classifier(model_dir: Path, tuned: Path | None, num_labels: int, pad_id: int) -> nn.Module:
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


def load_tuned_lm(model_dir: Path, tuned: Path | None) -> nn.Module:
    """The causal LM of `tuned`: a PEFT adapter on `model_dir`, or a full checkpoint (None: the base); eval mode."""
    from transformers import AutoModelForCausalLM

    with quiet_transformers():
        if tuned is None:
            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        elif (Path(tuned) / "adapter_config.json").is_file():
            from peft import PeftModel

            model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32),
                                              tuned)
        elif (Path(tuned) / "config.json").is_file():
            model = AutoModelForCausalLM.from_pretrained(tuned, dtype=torch.float32)
        else:
            raise InputError(f"{tuned}: neither a PEFT adapter nor a model checkpoint")
    return model.eval()
