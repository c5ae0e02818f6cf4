"""Adapter in, adapter out: real PEFT loads the written adapter and merges exactly to the paper's formula."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import lorascope
from lorascope.pipelines.scale import scale

from .conftest import EPS, K, analysed, expected, peft_merged, rel_err

CASES = ["llama", "gpt2", "bert"]


def _case(request, arch):
    return (
        request.getfixturevalue(arch),
        request.getfixturevalue(f"{arch}_dir"),
        request.getfixturevalue(f"{arch}_lora"),
    )


def _check_merge(model, art, out, lam, target, result, arch, tied=()):
    """Every matrix PEFT merges from `out` equals the formula (changed ones) or the old merge, bit for bit."""
    merged = peft_merged(model, out)
    changed = {m.name: m for m in result.matrices}
    assert changed, "the fixture must have intruders"
    want_by_name = {}
    for name, sm in changed.items():
        W0, Wt = analysed(name, art.base[name], arch), analysed(name, art.merged[name], arch)
        want, chosen = expected(W0, Wt, lam, target)
        assert sm.indices == chosen, name
        want_by_name[name] = want
        got = analysed(name, merged[name], arch)
        assert rel_err(got, want) < 1e-5, (name, rel_err(got, want))
    for name, tensor in merged.items():
        if name in changed:
            continue
        if name in tied:
            assert rel_err(analysed(tied[name], tensor, arch), want_by_name[tied[name]]) < 1e-5
            continue
        if target == "whole-update" and name.endswith(".bias"):
            continue  # checked in test_whole_update_scales_lora_bias
        assert torch.equal(tensor, art.merged[name]), name
    return merged


@pytest.mark.parametrize("arch", CASES)
def test_top_intruder_adapter_merges_to_formula(request, tmp_path, arch):
    model, base_dir, art = _case(request, arch)
    result = scale(base_dir, art.path, tmp_path / "out", 0.3)
    assert result.output_format == "adapter"
    tied = {"lm_head.weight": "transformer.wte.weight"} if arch == "gpt2" else {}
    _check_merge(model, art, tmp_path / "out", 0.3, "top-intruder", result, arch, tied)
    assert {m.name for m in result.matrices} | set(result.untouched) == {
        m.name for m in lorascope.scan(base_dir, art.path).matrices
    }


@pytest.mark.parametrize("target", ["all-intruders", "neighbour", "whole-update"])
def test_other_targets_adapter(llama, llama_dir, llama_lora, tmp_path, target):
    result = scale(llama_dir, llama_lora.path, tmp_path / "out", 0.5, target=target)
    _check_merge(llama, llama_lora, tmp_path / "out", 0.5, target, result, "llama")
    if target == "all-intruders":
        assert any(len(m.indices) > 1 for m in result.matrices)
    if target == "neighbour":
        assert all(not set(m.indices) & set(m.intruders) for m in result.matrices)


def test_whole_update_scales_lora_bias(bert, bert_dir, bert_lora, tmp_path):
    result = scale(bert_dir, bert_lora.path, tmp_path / "out", 0.25, target="whole-update")
    merged = _check_merge(bert, bert_lora, tmp_path / "out", 0.25, "whole-update", result, "bert")
    for sm in result.matrices:
        bias = sm.name.removesuffix(".weight") + ".bias"
        b0, bt = bert_lora.base[bias].double(), bert_lora.merged[bias].double()
        assert rel_err(merged[bias], b0 + 0.25 * (bt - b0)) < 1e-6, bias


def test_rescan_sees_scaled_singular_value(llama_dir, llama_lora, tmp_path):
    lam = 0.4
    result = scale(llama_dir, llama_lora.path, tmp_path / "out", lam)
    rescan = {m.name: m for m in lorascope.scan(llama_dir, tmp_path / "out").matrices}
    for sm in result.matrices:
        Wt = llama_lora.merged[sm.name].double()
        S = torch.linalg.svdvals(Wt)
        (i,) = sm.indices
        assert abs(sm.sigmas[0] - float(S[i])) < 1e-6 * float(S[0])
        S_new = S.clone()
        S_new[i] = lam * S[i]
        want = torch.sort(S_new, descending=True).values[:K]
        got = torch.tensor([t.sigma for t in rescan[sm.name].analysis.top], dtype=torch.float64)
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-7), sm.name


def test_lambda_one_round_trips(llama_dir, llama_lora, tmp_path):
    scale(llama_dir, llama_lora.path, tmp_path / "out", 1.0)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (tmp_path / "out" / name).read_bytes() == (llama_lora.path / name).read_bytes()


def test_untouched_tensors_are_byte_copies_and_config_patterns(llama_dir, llama_lora, tmp_path):
    result = scale(llama_dir, llama_lora.path, tmp_path / "out", 0.0)
    old = load_file(llama_lora.path / "adapter_model.safetensors")
    new = load_file(tmp_path / "out" / "adapter_model.safetensors")
    assert old.keys() == new.keys()
    changed = {m.name.removesuffix(".weight") for m in result.matrices}
    for key, tensor in old.items():
        module = key.removeprefix("base_model.model.").split(".lora_")[0]
        if module in changed:
            assert (
                new[key].shape[0 if "lora_A" in key or "embedding_A" in key else 1]
                == tensor.shape[0 if "lora_A" in key or "embedding_A" in key else 1] + 1
            )
        else:
            assert torch.equal(new[key], tensor), key
    config = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    first = next(iter(config["rank_pattern"]))
    assert (
        first.startswith("^")
        and config["rank_pattern"]["q_proj"] == 2
        and config["alpha_pattern"]["v_proj"] == 3
    )


def test_lambda_zero_removes_the_direction(llama, llama_dir, llama_lora, tmp_path):
    result = scale(llama_dir, llama_lora.path, tmp_path / "out", 0.0)
    merged = peft_merged(llama, tmp_path / "out")
    for sm in result.matrices:
        u = sm.U[:, 0]
        assert float(torch.linalg.vector_norm(merged[sm.name].double().T @ u)) < 1e-5 * sm.sigmas[0]


def test_saved_head_is_scaled_when_included(llama, llama_dir, llama_lora, tmp_path):
    result = scale(llama_dir, llama_lora.path, tmp_path / "out", 0.5, include=(".*",))
    names = {m.name: m for m in result.matrices}
    assert names["lm_head.weight"].source == "replaced"
    _check_merge(llama, llama_lora, tmp_path / "out", 0.5, "top-intruder", result, "llama")


def test_scale_json_describes_the_change(llama_dir, llama_lora, tmp_path):
    result = scale(llama_dir, llama_lora.path, tmp_path / "out", 0.5, epsilon=EPS)
    report = json.loads((tmp_path / "out" / "scale.json").read_text())
    assert report["options"]["target"] == "top-intruder" and report["options"]["lambdas"] == [0.5]
    assert report["untouched_count"] == len(result.untouched)
    entry = report["outputs"][0]["matrices"][0]
    assert entry["sigma_after"][0] == pytest.approx(0.5 * entry["sigma_before"][0])
    assert entry["max_cos"][0] < EPS and entry["indices"][0] == entry["intruders"][0]
    assert report["lorascope_version"] == lorascope.__version__


def test_pairs_carry_the_stored_orientation(gpt2_dir, gpt2_lora):
    """The writers store each value as the planner oriented it: Conv1D (fan_in_fan_out) transposed, wte not."""
    from lorascope.weights import open_checkpoint, plan_pairs

    plan = plan_pairs(gpt2_dir, gpt2_lora.path, include=(".*",))
    base = open_checkpoint(gpt2_dir)
    flags = {p.name: p.transposed for p in plan.pairs}
    assert flags["transformer.wte.weight"] is False
    assert flags["transformer.h.0.attn.c_proj.weight"] is True  # square, so only the layer type tells
    assert sum(flags.values()) == len(flags) - 1
    for pair in plan.pairs:
        assert base.shape(pair.name) == (pair.shape[::-1] if pair.transposed else pair.shape)
