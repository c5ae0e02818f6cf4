"""Unusual but valid inputs the corpus must not refuse: they finish (exit 0) with the right numbers or a warning."""

from __future__ import annotations

import json

import torch
from peft import LoraConfig
from safetensors.torch import load_file

from bad_inputs import damage
from bad_inputs.cases import Q0
from bad_inputs.test_corpus import run_cli
from fixtures import models


def scan_json(tmp_path, base, tuned, *extra) -> dict:
    out = tmp_path / "scan.json"
    done = run_cli(["scan", str(base), str(tuned), "--json", str(out), "--quiet", "--no-cache", *extra],
                   tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def test_tuned_in_another_dtype_is_analysed_with_a_warning(originals, tmp_path):
    tuned = damage.copy_tree(originals.tuned, tmp_path / "tuned")
    damage.edit_tensors(tuned / "model.safetensors", lambda t: t.__setitem__(Q0, t[Q0].to(torch.float16)))
    data = scan_json(tmp_path, originals.base, tuned, "--include", "q_proj")
    assert [m["name"] for m in data["matrices"]][0] == Q0
    assert any("dtype" in w and Q0 in w and "torch.float16" in w for w in data["warnings"]), data["warnings"]


def test_all_zero_update_has_no_intruders_and_rank_zero(originals, tmp_path):
    """An adapter whose B is zero (PEFT's initialisation): ΔW = 0 exactly, so W_tuned = W0."""
    adapter = damage.copy_tree(originals.adapter, tmp_path / "adapter")
    damage.edit_tensors(adapter / "adapter_model.safetensors",
                        lambda t: t.update({k: torch.zeros_like(v) for k, v in t.items() if "lora_B" in k}))
    data = scan_json(tmp_path, originals.base, adapter, "--k", "4")
    assert data["total_intruders"] == 0 and data["matrices"]
    for m in data["matrices"]:
        assert m["delta"]["effective_rank"] == 0 and m["delta"]["fro_norm"] == 0
        assert all(t["max_cos"] > 0.999 for t in m["top"])  # each tuned vector is a base vector


def test_adapter_rank_above_the_matrix_size(tmp_path):
    """r = 40 on 32 × 32 matrices is legal in PEFT; ΔW then has rank ≤ 32 and is analysed as such."""
    model = models.build("llama")
    base = models.save_model(model, tmp_path / "base")
    art = models.make_adapter(model, tmp_path / "adapter", LoraConfig(r=40, lora_alpha=80, target_modules=["q_proj"]))
    assert load_file(art.path / "adapter_model.safetensors")[
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].shape[0] == 40
    data = scan_json(tmp_path, base, art.path, "--k", "3")
    assert len(data["matrices"]) == 2
    assert any("rank r is at least min(m, n) for 2 matrices" in w for w in data["warnings"])  # said, not refused
    for m in data["matrices"]:
        assert m["shape"] == [32, 32]
        assert 0 < m["delta"]["effective_rank"] <= 32 and m["delta"]["energy_rank_99"] <= 32
        expected = torch.linalg.matrix_norm(art.merged[m["name"]].double() - art.base[m["name"]].double()).item()
        assert abs(m["delta"]["fro_norm"] - expected) < 1e-4 * expected
