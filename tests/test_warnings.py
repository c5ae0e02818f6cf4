"""Valid but suspicious inputs are scanned with a warning (in the JSON `warnings` and one stderr line each),
never in silence: an untrained adapter, a full-rank "LoRA", α = 0, a checkpoint equal to BASE, an adapter
trained on another model. A plain adapter or checkpoint gets none of them."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file, save_file

import lorascope
from fixtures import models
from lorascope.cli import main

TARGETS = ["q_proj", "k_proj", "v_proj"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("warn-base")
    return models.save_model(models.tiny_llama(), root / "base")


def _adapter(base: Path, path: Path, *, trained: bool = True, **lora) -> Path:
    """A real PEFT adapter of the tiny LLaMA: PEFT's own initialisation (lora_B = 0) unless `trained`."""
    config = LoraConfig(**{"r": 4, "lora_alpha": 8, "target_modules": TARGETS, **lora})
    if trained:
        return models.make_adapter(models.tiny_llama(), path, config, seed=3).path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        get_peft_model(models.tiny_llama(), config).save_pretrained(path)
    return path


def _edit_config(adapter: Path, **changes) -> None:
    file = adapter / "adapter_config.json"
    file.write_text(json.dumps({**json.loads(file.read_text()), **changes}))


def _cli_scan(base: Path, tuned: Path, tmp_path: Path, capsys) -> tuple[dict, list[str]]:
    """`lorascope scan --quiet --json`: the JSON and the stderr warning lines."""
    out = tmp_path / "scan.json"
    assert main(["scan", str(base), str(tuned), "--k", "4", "--json", str(out), "--quiet", "--no-cache"]) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("lorascope: warning: ")]
    return json.loads(out.read_text()), lines


def _only(result, needle: str) -> str:
    found = [w for w in result.warnings if needle in w]
    assert len(found) == 1, result.warnings
    return found[0]


def test_plain_adapter_and_checkpoint_get_none_of_these_warnings(base, tmp_path):
    adapter = _adapter(base, tmp_path / "adapter")
    assert lorascope.scan(base, adapter, k=4, cache=False).warnings == []
    tuned = models.save_model(models.perturbed(models.tiny_llama(), scale=0.02), tmp_path / "full")
    assert lorascope.scan(base, tuned, k=4, cache=False).warnings == []


def test_untrained_adapter_every_lora_b_zero(base, tmp_path, capsys):
    adapter = _adapter(base, tmp_path / "step0", trained=False)
    data, lines = _cli_scan(base, adapter, tmp_path, capsys)
    assert data["total_intruders"] == 0
    [warning] = [w for w in data["warnings"] if "lora_B is zero" in w]
    assert "every one of the 6 adapted matrices" in warning and "untrained" in warning
    assert lines == [f"lorascope: warning: {w}" for w in data["warnings"]]


def test_some_lora_b_zero_names_them(base, tmp_path):
    adapter = _adapter(base, tmp_path / "partial")
    weights = load_file(adapter / "adapter_model.safetensors")
    key = next(k for k in weights if "layers.1.self_attn.v_proj.lora_B" in k)
    weights[key] = torch.zeros_like(weights[key])
    save_file(weights, adapter / "adapter_model.safetensors")
    warning = _only(lorascope.scan(base, adapter, k=4, cache=False), "lora_B is zero")
    assert "1 of the 6" in warning and "model.layers.1.self_attn.v_proj.weight" in warning


def test_rank_at_least_min_dimension_names_the_matrices(base, tmp_path):
    # k_proj is 16×32 here (2 key/value heads of 8): r = 16 is not low-rank there; q_proj and v_proj keep r = 4
    adapter = _adapter(base, tmp_path / "full-rank", rank_pattern={"k_proj": 16})
    warning = _only(lorascope.scan(base, adapter, k=4, cache=False), "rank r is at least min(m, n)")
    assert "for 2 matrices" in warning and "r=16, 16×32" in warning
    assert "layers.0.self_attn.k_proj.weight" in warning and "layers.1.self_attn.k_proj.weight" in warning
    assert "q_proj" not in warning and "v_proj" not in warning


def test_alpha_zero_is_scanned_with_a_warning(base, tmp_path, capsys):
    adapter = _adapter(base, tmp_path / "alpha0")
    _edit_config(adapter, lora_alpha=0)
    data, lines = _cli_scan(base, adapter, tmp_path, capsys)
    assert data["total_intruders"] == 0
    assert all(m["delta"]["fro_norm"] == 0 for m in data["matrices"])
    warning = next(w for w in data["warnings"] if "lora_alpha is 0" in w)
    assert "every adapted matrix" in warning and f"lorascope: warning: {warning}" in lines


def test_checkpoint_equal_to_base(base, tmp_path, capsys):
    same = models.save_model(models.tiny_llama(), tmp_path / "same")
    data, lines = _cli_scan(base, same, tmp_path, capsys)
    assert data["total_intruders"] == 0
    [warning] = [w for w in data["warnings"] if "equals BASE exactly" in w]
    assert f"every one of the {len(data['matrices'])} matrices" in warning
    assert lines == [f"lorascope: warning: {warning}"]


@pytest.mark.parametrize("recorded, warned", [
    ("meta-llama/Llama-2-7b-hf", True),
    ("HuggingFaceTB/SmolLM2-135M", True),
    ("{base}", False),  # the very folder
    ("{base}/", False),
    ("someone/base", False),  # a hub name whose last part is BASE's folder name
    ("", False),
])
def test_base_model_name_or_path_naming_another_model(base, tmp_path, recorded, warned):
    adapter = _adapter(base, tmp_path / "named")
    _edit_config(adapter, base_model_name_or_path=recorded.format(base=base))
    result = lorascope.scan(base, adapter, k=4, cache=False)
    found = [w for w in result.warnings if "base_model_name_or_path" in w]
    assert bool(found) == warned, result.warnings
    if warned:
        assert recorded in found[0] and str(base) in found[0]


def test_base_model_name_from_base_config(tmp_path):
    """BASE in a folder of another name still matches through its config.json _name_or_path."""
    model = models.tiny_llama()
    model.config._name_or_path = "HuggingFaceTB/SmolLM2-135M"
    base = models.save_model(model, tmp_path / "local-copy")
    config = json.loads((base / "config.json").read_text())
    if config.get("_name_or_path") != "HuggingFaceTB/SmolLM2-135M":
        config["_name_or_path"] = "HuggingFaceTB/SmolLM2-135M"
        (base / "config.json").write_text(json.dumps(config))
    adapter = _adapter(base, tmp_path / "adapter")
    _edit_config(adapter, base_model_name_or_path="HuggingFaceTB/SmolLM2-135M")
    assert not [w for w in lorascope.scan(base, adapter, k=4, cache=False).warnings if "base_model" in w]
