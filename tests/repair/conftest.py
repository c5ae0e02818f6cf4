"""Fixtures for the repair tests: a tiny LLaMA with a tokenizer, LoRA adapters trained on toy text, data files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from fixtures.trained_lora import train_cls_lora, train_lm_lora
from training import toys

_rng = random.Random(0)
TASK = [" ".join(_rng.choice(["abc", "abd", "bca"]) for _ in range(8)) for _ in range(32)]
FORGET = ["".join(_rng.choice("xyz 0123456789") for _ in range(60)) for _ in range(12)]
CLS = [(w * 6, int(w.startswith("q"))) for w in ["qa ", "qb ", "za ", "zb ", "qc ", "zc ", "qd ", "zd "] * 4]


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("repair")


@pytest.fixture(scope="session")
def base_dir(root) -> Path:
    """A tiny 3-block LlamaForCausalLM with a character tokenizer (never modified)."""
    return toys.tiny_llama_dir(root / "base")


@pytest.fixture(scope="session")
def files(root) -> dict[str, Path]:
    """Validation texts (JSONL), labelled rows (CSV) and forget text (one document per line)."""
    val = root / "val.jsonl"
    val.write_text("".join(json.dumps({"text": t}) + "\n" for t in TASK[:16]))
    cls = root / "cls.csv"
    cls.write_text("sentence,label\n" + "".join(f"{t},{y}\n" for t, y in CLS[:16]))
    forget = root / "forget.txt"
    forget.write_text("\n".join(FORGET) + "\n")
    return {"val": val, "cls": cls, "forget": forget}


@pytest.fixture(scope="session")
def lm_adapter(root, base_dir) -> Path:
    """A causal-LM LoRA trained hard on TASK: intruders in every matrix, task loss far below the base's."""
    return train_lm_lora(base_dir, root / "lm_lora", TASK)


@pytest.fixture(scope="session")
def cls_adapter(root, base_dir) -> Path:
    """A sequence-classification LoRA (2 classes, head saved) trained on CLS."""
    return train_cls_lora(base_dir, root / "cls_lora", CLS)


@pytest.fixture(scope="session")
def faint_adapter(root, base_dir) -> Path:
    """A causal-LM LoRA whose update is tiny: no singular vector moves, so no intruder."""
    return train_lm_lora(base_dir, root / "faint_lora", TASK, steps=1, lr=1e-7)
