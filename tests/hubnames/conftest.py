"""A real Hugging Face cache (tiny models, huggingface_hub's layout) and an offline hub pointed at it.

    tiny-org/tiny-llama   refs/main -> commit A (seed 0), refs/v2 -> commit B (seed 1)
    tiny-org/tiny-lora    refs/main -> a LoRA adapter of A whose adapter_config.json names tiny-org/tiny-llama
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures import hub_cache, models
from training import toys

BASE_ID = "tiny-org/tiny-llama"
ADAPTER_ID = "tiny-org/tiny-lora"


@dataclass(frozen=True)
class Hub:
    cache: Path  # HF_HUB_CACHE
    base_a: Path  # local folder of commit A (seed 0)
    base_b: Path  # local folder of commit B (seed 1)
    adapter: Path  # local folder of the adapter (names BASE_ID)
    commit_a: str
    commit_b: str
    snapshot_a: Path
    snapshot_b: Path
    snapshot_adapter: Path


def set_base_name(adapter: Path, name: str | None, revision: str | None = None) -> None:
    """Rewrite the base an adapter folder names, as PEFT records it (base_model_name_or_path, revision)."""
    path = adapter / "adapter_config.json"
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = name
    config["revision"] = revision
    path.write_text(json.dumps(config, indent=2))


@pytest.fixture(scope="session")
def hub(tmp_path_factory) -> Hub:
    import torch
    from peft import LoraConfig
    from transformers import LlamaForCausalLM

    root = tmp_path_factory.mktemp("hub")
    base_a = toys.tiny_llama_dir(root / "local" / "base-a", seed=0)
    base_b = toys.tiny_llama_dir(root / "local" / "base-b", seed=1)
    torch.manual_seed(0)
    model = LlamaForCausalLM.from_pretrained(base_a).eval()
    art = models.make_adapter(model, root / "local" / "adapter",
                              LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    set_base_name(art.path, BASE_ID)
    cache = root / "hf-cache"
    commit_a, commit_b = hub_cache.commit_of("a"), hub_cache.commit_of("b")
    snap_a = hub_cache.add_snapshot(cache, BASE_ID, base_a, commit=commit_a, refs=("main",))
    snap_b = hub_cache.add_snapshot(cache, BASE_ID, base_b, commit=commit_b, refs=("v2",))
    snap_ad = hub_cache.add_snapshot(cache, ADAPTER_ID, art.path, commit=hub_cache.commit_of("lora"))
    return Hub(cache, base_a, base_b, art.path, commit_a, commit_b, snap_a, snap_b, snap_ad)


@pytest.fixture
def offline(hub, monkeypatch) -> Hub:
    """huggingface_hub reads HF_HUB_CACHE / HF_HUB_OFFLINE at import: point its constants (and the env,
    for child processes) at the test cache, offline."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub.cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub.cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return hub


@pytest.fixture
def own_adapter(hub, tmp_path) -> Path:
    """A private copy of the adapter folder, for tests that change the base it names."""
    return Path(shutil.copytree(hub.adapter, tmp_path / "adapter"))
