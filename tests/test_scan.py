"""`lorascope.scan` end to end on real PEFT adapters and checkpoints, against the float64 reference."""

from __future__ import annotations

import json

import pytest
import torch
from peft import LoraConfig

import lorascope
from fixtures import models
from lorascope.spectral.reference import reference_intruders

TARGETS = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "bert": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
}


def _oriented(name: str, tensor: torch.Tensor, arch: str) -> torch.Tensor:
    return tensor.T if arch == "gpt2" and models.is_conv1d(name) else tensor


def _check_against_reference(result, merged, base, arch, k, epsilon):
    assert result.matrices, "nothing was scanned"
    for m in result.matrices:
        W0 = _oriented(m.name, base[m.name], arch).double()
        Wt = _oriented(m.name, merged[m.name], arch).double()
        ref = reference_intruders(W0, Wt, k, epsilon)
        assert [t.intruder for t in m.analysis.top] == ref.intruder, m.name
        assert m.intruders == ref.count, m.name
        got = torch.tensor([t.max_cos for t in m.analysis.top], dtype=torch.float64)
        assert torch.allclose(got, torch.tensor(ref.max_cos, dtype=torch.float64), atol=1e-3), m.name
        sig = torch.tensor([t.sigma for t in m.analysis.top], dtype=torch.float64)
        assert torch.allclose(sig, torch.tensor(ref.sigma, dtype=torch.float64), rtol=1e-4), m.name


@pytest.mark.parametrize("arch", ["llama", "gpt2", "bert"])
@pytest.mark.parametrize("config", ["plain", "rslora-patterns"])
def test_adapter_scan_equals_reference(tmp_path, arch, config):
    model = models.build(arch)
    models.save_model(model, tmp_path / "base")
    kwargs = dict(r=4, lora_alpha=8, target_modules=TARGETS[arch], fan_in_fan_out=arch == "gpt2")
    if config == "rslora-patterns":
        kwargs.update(use_rslora=True, rank_pattern={"0\\..*": 2}, alpha_pattern={"1\\..*": 32})
    art = models.make_adapter(model, tmp_path / "adapter", LoraConfig(**kwargs), seed=3)
    result = lorascope.scan(tmp_path / "base", art.path, k=5, epsilon=0.5)
    assert result.tuned_kind == "adapter"
    _check_against_reference(result, art.merged, art.base, arch, k=5, epsilon=0.5)
    # the big random LoRA update makes new directions: the test would prove little if none were found
    assert result.total_intruders > 0


@pytest.mark.parametrize("arch", ["llama", "bert"])
def test_checkpoint_scan_equals_reference_and_shards_read_the_same(tmp_path, arch):
    model = models.build(arch)
    tuned = models.perturbed(model, scale=0.02)
    models.save_model(model, tmp_path / "base")
    models.save_model(tuned, tmp_path / "tuned")
    models.save_model(tuned, tmp_path / "tuned-sharded", max_shard_size="20KB")
    assert (tmp_path / "tuned-sharded" / "model.safetensors.index.json").is_file()
    one = lorascope.scan(tmp_path / "base", tmp_path / "tuned", k=4, epsilon=0.6)
    many = lorascope.scan(tmp_path / "base", tmp_path / "tuned-sharded", k=4, epsilon=0.6)
    assert one.tuned_kind == "checkpoint"
    _check_against_reference(one, models.state_dict(tuned), models.state_dict(model), arch, k=4, epsilon=0.6)
    strip = {"seconds", "tuned"}
    a = {k: v for k, v in one.to_json().items() if k not in strip}
    b = {k: v for k, v in many.to_json().items() if k not in strip}
    assert a == b


def test_exact_solver_agrees_with_auto(tmp_path):
    model = models.build("llama")
    models.save_model(model, tmp_path / "base")
    config = LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS["llama"])
    art = models.make_adapter(model, tmp_path / "adapter", config)
    auto = lorascope.scan(tmp_path / "base", art.path, k=6)
    exact = lorascope.scan(tmp_path / "base", art.path, k=6, solver="exact")
    assert [m.intruders for m in auto.matrices] == [m.intruders for m in exact.matrices]
    assert {m.analysis.solver for m in exact.matrices} == {"exact"}


def test_json_schema_contract(tmp_path):
    model = models.build("llama")
    models.save_model(model, tmp_path / "base")
    art = models.make_adapter(model, tmp_path / "adapter", LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    result = lorascope.scan(tmp_path / "base", art.path, k=3, epsilon=0.5, k_fractions=(0.5, 1.0))
    path = result.save_json(tmp_path / "out.json")
    data = json.loads(path.read_text())
    for key in ["lorascope_version", "base", "tuned", "tuned_kind", "k", "epsilon", "total_intruders", "matrices",
                "skipped"]:
        assert key in data
    assert data["total_intruders"] == sum(m["intruders"] for m in data["matrices"])
    m = data["matrices"][0]
    assert m["name"].endswith(".weight") and len(m["shape"]) == 2
    assert len(m["top"]) == 3 and [t["index"] for t in m["top"]] == [0, 1, 2]
    assert set(m["top"][0]) == {"index", "sigma", "max_cos", "base_index", "intruder"}
    assert {"effective_rank", "stable_rank", "fro_norm", "spectral_norm"} <= set(m["delta"])
    assert len(m["k_fraction_counts"]) == 2 and m["k_fraction_counts"][0] <= m["k_fraction_counts"][1]
    # adapted only q and v: exactly those matrices, named as in BASE
    assert {x["name"].rsplit(".", 2)[-2] for x in data["matrices"]} == {"q_proj", "v_proj"}


def test_unknown_option_is_refused(tmp_path):
    with pytest.raises(lorascope.InputError, match="unknown scan option"):
        lorascope.scan(tmp_path, tmp_path, kk=3)


def test_k_larger_than_matrix_names_it(tmp_path):
    model = models.build("llama")
    models.save_model(model, tmp_path / "base")
    art = models.make_adapter(model, tmp_path / "adapter", LoraConfig(r=2, target_modules=["k_proj"]))
    with pytest.raises(lorascope.InputError, match=r"k_proj.weight: k=10000 is larger"):
        lorascope.scan(tmp_path / "base", art.path, k=10000)
