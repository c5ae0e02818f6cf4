"""adapter_config.json: PEFT's defaults and pattern resolution, and refusals of what is not plain LoRA."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from peft.utils.other import get_pattern_key

from lorascope.weights import parse_lora_settings, pattern_key, plan_pairs, read_adapter

MODULES = [
    "model.layers.0.self_attn.q_proj",
    "model.layers.1.self_attn.q_proj",
    "model.layers.10.mlp.down_proj",
    "model.layers.1.mlp.down_proj",
    "transformer.h.0.attn.c_proj",
    "transformer.h.0.mlp.c_proj",
    "encoder.layer.1.output.dense",
    "encoder.layer.1.attention.output.dense",
    "xq_proj",
]
PATTERNS = [
    {"q_proj": 2},
    {r"layers\.1\..*": 3, "q_proj": 5},
    {"q_proj": 5, r"layers\.1\..*": 3},
    {"proj": 7},
    {r"mlp\.c_proj": 2, "c_proj": 6},
    {r"layer\.1\.output\.dense": 6, "dense": 4},
    {r".*\.1\.self_attn\.q_proj": 9},
    {"model.layers.0.self_attn.q_proj": 4},
]


@pytest.mark.parametrize("patterns", PATTERNS)
def test_pattern_key_is_pefts(patterns):
    for module in MODULES:
        assert pattern_key(patterns, module) == get_pattern_key(list(patterns), module)


def test_defaults_when_keys_are_missing():
    settings = parse_lora_settings({"peft_type": "LORA", "target_modules": ["q_proj"]}, Path("c.json"))
    assert (settings.r, settings.lora_alpha, settings.use_rslora) == (8, 8, False)
    assert not settings.fan_in_fan_out and not settings.use_dora
    assert settings.scale_of("q_proj") == 1.0


def test_scales_with_patterns_and_rslora():
    raw = {
        "peft_type": "LORA",
        "r": 8,
        "lora_alpha": 16,
        "rank_pattern": {"q_proj": 2},
        "alpha_pattern": {r"layers\.1\..*": 3},
    }
    settings = parse_lora_settings(raw, Path("c.json"))
    assert settings.scale_of("model.layers.0.self_attn.q_proj") == 16 / 2
    assert settings.scale_of("model.layers.1.self_attn.q_proj") == 3 / 2
    assert settings.scale_of("model.layers.1.mlp.up_proj") == 3 / 8
    settings = parse_lora_settings({**raw, "use_rslora": True}, Path("c.json"))
    assert settings.scale_of("model.layers.0.mlp.up_proj") == 16 / math.sqrt(8)


@pytest.mark.parametrize("init", ["pissa", "pissa_niter_4", "olora", "corda", "lora_ga", "loftq"])
def test_warning_for_inits_that_rewrite_the_base(init):
    settings = parse_lora_settings({"peft_type": "LORA", "init_lora_weights": init}, Path("c.json"))
    assert settings.warnings() and init in settings.warnings()[0]


@pytest.mark.parametrize("init", [True, False, "gaussian", "eva", "orthogonal", "mica"])
def test_no_warning_for_plain_inits(init):
    settings = parse_lora_settings({"peft_type": "LORA", "init_lora_weights": init}, Path("c.json"))
    assert settings.warnings() == []


def _edit_config(adapter: Path, tmp_path: Path, **changes) -> Path:
    """A copy of an adapter folder whose adapter_config.json has `changes` applied (None deletes a key)."""
    copy = tmp_path / "edited"
    copy.mkdir()
    (copy / "adapter_model.safetensors").write_bytes((adapter / "adapter_model.safetensors").read_bytes())
    config = json.loads((adapter / "adapter_config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (copy / "adapter_config.json").write_text(json.dumps(config))
    return copy


@pytest.mark.parametrize("peft_type", ["LOHA", "LOKR", "VERA", "ADALORA", "IA3"])
def test_non_lora_peft_type(llama_dir, llama_adapter, tmp_path, refused, peft_type):
    edited = _edit_config(llama_adapter.path, tmp_path, peft_type=peft_type)
    refused(lambda: plan_pairs(llama_dir, edited), str(edited / "adapter_config.json"), peft_type)


def test_missing_peft_type(llama_adapter, tmp_path, refused):
    edited = _edit_config(llama_adapter.path, tmp_path, peft_type=None)
    refused(lambda: read_adapter(edited), "adapter_config.json", "peft_type")


def test_missing_adapter_config(llama_dir, llama_adapter, tmp_path, refused):
    edited = _edit_config(llama_adapter.path, tmp_path)
    (edited / "adapter_config.json").unlink()
    refused(lambda: plan_pairs(llama_dir, edited), str(edited), "adapter_config.json is missing")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_malformed_adapter_config(llama_dir, llama_adapter, tmp_path, refused, text):
    edited = _edit_config(llama_adapter.path, tmp_path)
    (edited / "adapter_config.json").write_text(text)
    refused(lambda: plan_pairs(llama_dir, edited), str(edited / "adapter_config.json"))


def test_r_disagreeing_with_shapes(llama_dir, llama_adapter, tmp_path, refused):
    edited = _edit_config(llama_adapter.path, tmp_path, r=3)
    error = refused(lambda: plan_pairs(llama_dir, edited), "r=3", "lora_A.weight", "(rank 4)")
    assert "adapter_config.json" in str(error)


def test_rank_pattern_disagreeing_with_shapes(llama_dir, llama_adapter, tmp_path, refused):
    edited = _edit_config(llama_adapter.path, tmp_path, rank_pattern={"v_proj": 2})
    refused(lambda: plan_pairs(llama_dir, edited), "rank_pattern", "r=2", "v_proj.lora_A.weight")


@pytest.mark.parametrize(
    "changes",
    [
        {"lora_alpha": -0.5},
        {"lora_alpha": -4},
        {"lora_alpha": "8"},
        {"alpha_pattern": {"q_proj": -1}},
        {"r": 0},
        {"r": 2.5},
        {"rank_pattern": {"q_proj": -1}},
        {"rank_pattern": {"q_proj[": 4}},
        {"use_rslora": "yes"},
    ],
)
def test_bad_values(llama_dir, llama_adapter, tmp_path, refused, changes):
    edited = _edit_config(llama_adapter.path, tmp_path, **changes)
    refused(lambda: plan_pairs(llama_dir, edited), str(edited / "adapter_config.json"), next(iter(changes)))


@pytest.mark.parametrize(
    "changes",
    [
        {"target_parameters": ["feed_forward.experts.gate_up_proj"]},
        {"use_qalora": True},
        {"alora_invocation_tokens": [1, 2]},
        {"layer_replication": [[0, 2], [1, 2]]},
        {"use_bdlora": {"lora_a_pattern": ["q_proj"]}},
    ],
)
def test_unsupported_variants_are_refused(llama_dir, llama_adapter, tmp_path, refused, changes):
    edited = _edit_config(llama_adapter.path, tmp_path, **changes)
    refused(lambda: plan_pairs(llama_dir, edited), next(iter(changes)), "not supported")


def test_pissa_warning_reaches_the_plan(llama_dir, llama_adapter, tmp_path):
    edited = _edit_config(llama_adapter.path, tmp_path, init_lora_weights="pissa_niter_16")
    plan = plan_pairs(llama_dir, edited)
    assert any("pissa_niter_16" in w for w in plan.warnings)
