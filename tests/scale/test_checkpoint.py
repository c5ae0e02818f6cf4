"""Checkpoint out: full fine-tunes (sharded, bf16), `merged` adapters and DoRA keep dtype, layout and loadability."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from safetensors import safe_open

from fixtures import models
from lorascope.pipelines.scale import scale

from .conftest import adapter, analysed, expected, rel_err

PLANTED = (
    "model.layers.0.self_attn.q_proj.weight",
    "model.layers.0.mlp.up_proj.weight",
    "model.layers.1.mlp.down_proj.weight",
)


def _tensors(folder):
    """Every tensor of every .safetensors file in `folder`: name -> (file name, tensor)."""
    found = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as handle:
            names = handle.keys()
            for name in names:
                found[name] = (path.name, handle.get_tensor(name))
    return found


@pytest.fixture(scope="module")
def full_ft(llama, tmp_path_factory):
    """BASE and a full fine-tune with planted rank-1 intruders, both bf16 in several shards."""
    root = tmp_path_factory.mktemp("full_ft")
    tuned = copy.deepcopy(llama)
    generator = torch.Generator().manual_seed(3)
    params = dict(tuned.named_parameters())
    with torch.no_grad():
        for name in PLANTED:
            W = params[name]
            x = torch.randn(W.shape[0], generator=generator)
            y = torch.randn(W.shape[1], generator=generator)
            W += 2.5 * torch.linalg.matrix_norm(W, 2) * torch.outer(x / x.norm(), y / y.norm())
    base_dir = models.save_model(llama, root / "base", max_shard_size="12KB", dtype=torch.bfloat16)
    tuned_dir = models.save_model(tuned, root / "tuned", max_shard_size="12KB", dtype=torch.bfloat16)
    assert len(list(tuned_dir.glob("*.safetensors"))) > 2
    return base_dir, tuned_dir


@pytest.mark.parametrize("target", ["top-intruder", "whole-update"])
def test_full_checkpoint_bf16_shards(full_ft, tmp_path, target):
    from transformers import LlamaForCausalLM

    base_dir, tuned_dir = full_ft
    lam = 0.3
    result = scale(base_dir, tuned_dir, tmp_path / "out", lam, target=target)
    out = tmp_path / "out"
    assert result.output_format == "checkpoint"
    index = "model.safetensors.index.json"
    assert (out / index).read_bytes() == (tuned_dir / index).read_bytes()
    assert (out / "config.json").read_bytes() == (tuned_dir / "config.json").read_bytes()
    before, after = _tensors(tuned_dir), _tensors(out)
    base = _tensors(base_dir)
    assert {n: f for n, (f, _) in before.items()} == {n: f for n, (f, _) in after.items()}
    changed = {m.name for m in result.matrices}
    if target == "top-intruder":
        assert changed == set(PLANTED)
    for name, (_, old) in before.items():
        new = after[name][1]
        assert new.dtype == old.dtype == torch.bfloat16
        if name not in changed:
            assert torch.equal(new, old), name
            continue
        want, _ = expected(base[name][1], old, lam, target)
        err = (new.double() - want).abs()
        assert bool((err <= 2**-8 * want.abs() + 1e-6).all()), name
    loaded = LlamaForCausalLM.from_pretrained(out, dtype=torch.bfloat16)
    for name, tensor in loaded.state_dict().items():
        if name in after:
            assert torch.equal(tensor, after[name][1]), name


def test_lambda_one_full_checkpoint_is_a_byte_copy(full_ft, tmp_path):
    base_dir, tuned_dir = full_ft
    scale(base_dir, tuned_dir, tmp_path / "out", 1)
    for path in tuned_dir.iterdir():
        assert (tmp_path / "out" / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize("arch", ["llama", "gpt2", "bert"])
def test_merged_adapter(request, tmp_path, arch):
    model, base_dir = request.getfixturevalue(arch), request.getfixturevalue(f"{arch}_dir")
    art = request.getfixturevalue(f"{arch}_lora")
    lam = 0.6
    result = scale(base_dir, art.path, tmp_path / "out", lam, merged=True)
    assert result.output_format == "checkpoint"
    assert (tmp_path / "out" / "config.json").read_bytes() == (base_dir / "config.json").read_bytes()
    state = models.state_dict(type(model).from_pretrained(tmp_path / "out"))
    changed = {m.name for m in result.matrices}
    assert changed
    tied = {"lm_head.weight": "transformer.wte.weight"} if arch == "gpt2" else {}
    for name, tensor in state.items():
        source = tied.get(name, name)
        if source in changed:
            want, _ = expected(
                analysed(source, art.base[source], arch),
                analysed(source, art.merged[source], arch),
                lam,
                "top-intruder",
            )
            assert rel_err(analysed(source, tensor, arch), want) < 1e-5, name
        elif torch.equal(art.merged[name], art.base[name]):
            assert torch.equal(tensor, art.base[name]), name
        else:  # adapted without an intruder, a lora_B.bias, the saved lm_head: PEFT's merge up to rounding
            assert rel_err(tensor, art.merged[name]) < 1e-6, name


def test_dora_writes_merged_checkpoint_with_note(llama, llama_dir, tmp_path):
    from peft import LoraConfig
    from transformers import LlamaForCausalLM

    art = adapter(
        llama,
        tmp_path / "dora",
        LoraConfig(r=4, lora_alpha=8, use_dora=True, target_modules=["q_proj", "v_proj", "up_proj"]),
    )
    result = scale(llama_dir, art.path, tmp_path / "out", 0.5)
    assert result.output_format == "checkpoint"
    report = json.loads((tmp_path / "out" / "scale.json").read_text())
    assert any("DoRA" in n for n in report["notes"]) and any("DoRA" in w for w in report["warnings"])
    state = models.state_dict(LlamaForCausalLM.from_pretrained(tmp_path / "out"))
    changed = {m.name for m in result.matrices}
    assert changed
    for name, tensor in state.items():
        if name in changed:
            want, _ = expected(art.base[name], art.merged[name], 0.5, "top-intruder")
            assert rel_err(tensor, want) < 1e-5, name
        else:
            assert rel_err(tensor, art.merged[name]) < 1e-6, name
