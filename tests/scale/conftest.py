"""Fixtures for the scale tests: tiny saved models, real-PEFT adapters with intruders, reference formulas."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
import torch

from fixtures import models
from lorascope.pipelines.scale import neighbour_index
from lorascope.spectral import reference_intruders

K, EPS = 10, 0.5


def adapter(model, path: Path, config, *, seed: int = 0, scale: float = 0.08) -> models.AdapterArtifact:
    """models.make_adapter with LoRA factors of `scale` (large enough for intruders in every architecture)."""
    from peft import get_peft_model

    base_state = models.state_dict(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = get_peft_model(copy.deepcopy(model), config)
        models.randomize_lora(peft_model, seed, scale=scale)
        peft_model.save_pretrained(path)
        merged = peft_model.merge_and_unload()
    return models.AdapterArtifact(path, models.state_dict(merged), base_state, {}, {})


def peft_merged(model, adapter_dir: Path) -> dict[str, torch.Tensor]:
    """Load `adapter_dir` onto a copy of `model` with real PEFT and return merge_and_unload()'s state dict."""
    from peft import PeftModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = PeftModel.from_pretrained(copy.deepcopy(model), adapter_dir)
        return models.state_dict(loaded.merge_and_unload())


def analysed(name: str, tensor: torch.Tensor, arch: str) -> torch.Tensor:
    """A stored tensor in lorascope's analysed (out, in) orientation, float64."""
    t = tensor.to(torch.float64)
    return t.T if arch == "gpt2" and models.is_conv1d(name) else t


def expected(
    W0: torch.Tensor, Wt: torch.Tensor, lam: float, target: str
) -> tuple[torch.Tensor, tuple[int, ...]]:
    """The paper's formula from float64 full SVDs: the new matrix and the scaled indices (analysed orientation)."""
    W0, Wt = W0.to(torch.float64), Wt.to(torch.float64)
    if target == "whole-update":
        return W0 + lam * (Wt - W0), ()
    k = min(K + 1, min(Wt.shape))
    flags = reference_intruders(W0, Wt, k, EPS).intruder
    intruders = [j for j in range(K) if flags[j]]
    if not intruders:
        return Wt, ()
    if target == "top-intruder":
        chosen = (intruders[0],)
    elif target == "all-intruders":
        chosen = tuple(intruders)
    else:
        chosen = (neighbour_index(intruders[0], flags),)
    U, S, Vh = torch.linalg.svd(Wt, full_matrices=False)
    out = Wt.clone()
    for j in chosen:
        out += (lam - 1) * S[j] * torch.outer(U[:, j], Vh[j])
    return out, chosen


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want|."""
    got, want = got.to(torch.float64), want.to(torch.float64)
    return float((got - want).abs().max() / want.abs().max())


@pytest.fixture(scope="session")
def llama():
    return models.tiny_llama()


@pytest.fixture(scope="session")
def llama_dir(llama, tmp_path_factory) -> Path:
    return models.save_model(llama, tmp_path_factory.mktemp("llama") / "base")


@pytest.fixture(scope="session")
def llama_lora(llama, tmp_path_factory) -> models.AdapterArtifact:
    """LoRA on every linear layer and the embedding, with rank/alpha patterns and a saved lm_head."""
    from peft import LoraConfig

    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=[*models.LINEAR_TARGETS["llama"], "embed_tokens"],
        rank_pattern={"q_proj": 2},
        alpha_pattern={"v_proj": 3},
        modules_to_save=["lm_head"],
    )
    return adapter(llama, tmp_path_factory.mktemp("llama_lora") / "adapter", config)


@pytest.fixture(scope="session")
def gpt2():
    return models.tiny_gpt2()


@pytest.fixture(scope="session")
def gpt2_dir(gpt2, tmp_path_factory) -> Path:
    return models.save_model(gpt2, tmp_path_factory.mktemp("gpt2") / "base")


@pytest.fixture(scope="session")
def gpt2_lora(gpt2, tmp_path_factory) -> models.AdapterArtifact:
    """rsLoRA on GPT-2's Conv1D layers (fan_in_fan_out) and its token embedding."""
    from peft import LoraConfig

    config = LoraConfig(
        r=4,
        lora_alpha=6,
        use_rslora=True,
        fan_in_fan_out=True,
        target_modules=[*models.LINEAR_TARGETS["gpt2"], "wte"],
    )
    return adapter(gpt2, tmp_path_factory.mktemp("gpt2_lora") / "adapter", config)


@pytest.fixture(scope="session")
def bert():
    return models.tiny_bert()


@pytest.fixture(scope="session")
def bert_dir(bert, tmp_path_factory) -> Path:
    return models.save_model(bert, tmp_path_factory.mktemp("bert") / "base")


@pytest.fixture(scope="session")
def bert_lora(bert, tmp_path_factory) -> models.AdapterArtifact:
    """LoRA with lora_bias on BERT's attention and dense layers (PEFT has no lora_bias for embeddings)."""
    from peft import LoraConfig

    config = LoraConfig(r=3, lora_alpha=5, lora_bias=True, target_modules=models.LINEAR_TARGETS["bert"])
    return adapter(bert, tmp_path_factory.mktemp("bert_lora") / "adapter", config)
