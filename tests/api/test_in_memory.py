"""scan() of models in memory (nn.Module, PeftModel, state dict): the same numbers as the saved folders, no file."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
import torch

import lorascope
from fixtures.models import perturbed, randomize_lora, save_model, tiny_bert_classifier, tiny_gpt2, tiny_llama
from lorascope.errors import InputError

TARGETS = ["q_proj", "v_proj", "up_proj", "embed_tokens"]
AS_GIVEN = ("base", "tuned", "seconds")  # the only JSON fields allowed to differ: names and time


def lora_config(**overrides):
    from peft import LoraConfig

    return LoraConfig(**{"r": 4, "lora_alpha": 8, "target_modules": TARGETS, **overrides})


def wrapped(model, config=None, adapter_name: str = "default"):
    """Real PEFT around `model` (in place, as get_peft_model does), with non-zero seeded LoRA factors."""
    from peft import get_peft_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = get_peft_model(model, config or lora_config(), adapter_name=adapter_name)
    randomize_lora(peft_model, seed=3)
    return peft_model


def saved_adapter(peft_model, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model.save_pretrained(path)
    name = peft_model.active_adapter
    return path if name == "default" else path / name


def same_scan(a: lorascope.ScanResult, b: lorascope.ScanResult) -> None:
    ja, jb = a.to_json(), b.to_json()
    assert {k: v for k, v in ja.items() if k not in AS_GIVEN} == {k: v for k, v in jb.items() if k not in AS_GIVEN}


@pytest.fixture(scope="module")
def llama_lora(tmp_path_factory):
    """A tiny LLaMA saved, a PEFT LoRA (linear + embedding) around a copy of it, that adapter saved."""
    root = tmp_path_factory.mktemp("in_memory")
    base = tiny_llama()
    save_model(base, root / "base")
    peft_model = wrapped(copy.deepcopy(base))
    return base, peft_model, root / "base", saved_adapter(peft_model, root / "adapter")


def test_peft_model_in_memory_equals_the_saved_adapter(llama_lora):
    base, peft_model, base_dir, adapter_dir = llama_lora
    on_disk = lorascope.scan(base_dir, adapter_dir, k=4, cache=False)
    assert on_disk.tuned_kind == "adapter" and len(on_disk.matrices) == 2 * 3 + 1 and on_disk.total_intruders > 0
    for given_base in (base, base.state_dict(), base_dir, None):  # None: the PeftModel's own base weights
        in_memory = lorascope.scan(given_base, peft_model, k=4, cache=False)
        same_scan(in_memory, on_disk)
        assert in_memory.tuned == "<in-memory TUNED PeftModel, adapter 'default'>"


def test_base_model_wrapped_in_place_by_peft_gives_its_frozen_weights(llama_lora, tmp_path):
    """get_peft_model changes the model it is given; as BASE, that model still stands for its base weights."""
    _, _, base_dir, _ = llama_lora
    model = tiny_llama()
    peft_model = wrapped(model, adapter_name="mine")
    adapter_dir = saved_adapter(peft_model, tmp_path / "adapter")
    assert any(".base_layer." in k for k in model.state_dict())  # really wrapped in place
    same_scan(lorascope.scan(model, peft_model, k=4, cache=False),
              lorascope.scan(base_dir, adapter_dir, k=4, cache=False))


def test_classifier_with_modules_to_save_in_memory_equals_the_saved_adapter(tmp_path):
    """A task model: backbone under `bert.`, a trainable head copy (modules_to_save) beside the LoRA factors."""
    base = tiny_bert_classifier()
    save_model(base, tmp_path / "base")
    peft_model = wrapped(copy.deepcopy(base), lora_config(target_modules=["query", "value"],
                                                          modules_to_save=["classifier"]))
    adapter_dir = saved_adapter(peft_model, tmp_path / "adapter")
    for include in ((), (r"classifier", r"query")):  # heads are left out by default; asked for, it is compared
        on_disk = lorascope.scan(tmp_path / "base", adapter_dir, k=2, cache=False, include=include)
        assert any(m.name == "classifier.weight" for m in on_disk.matrices) == bool(include)
        same_scan(lorascope.scan(None, peft_model, k=2, cache=False, include=include), on_disk)
        same_scan(lorascope.scan(base, peft_model, k=2, cache=False, include=include), on_disk)


def test_bf16_model_in_memory_equals_its_bf16_checkpoint(tmp_path):
    base, tuned = tiny_llama(), perturbed(tiny_llama(), seed=2, scale=0.05)
    on_disk = lorascope.scan(save_model(base, tmp_path / "b", dtype=torch.bfloat16),
                             save_model(tuned, tmp_path / "t"), k=3, cache=False)
    assert any("differ in dtype" in w for w in on_disk.warnings)
    same_scan(lorascope.scan(base.to(torch.bfloat16), tuned, k=3, cache=False), on_disk)


def test_merged_adapter_as_base_is_refused(llama_lora):
    _, peft_model, _, _ = llama_lora
    merged = copy.deepcopy(peft_model)
    merged.merge_adapter()
    with pytest.raises(InputError, match="merged into its base weight"):
        lorascope.scan(merged, peft_model, k=4, cache=False)


@pytest.mark.parametrize("build", [tiny_llama, tiny_gpt2], ids=["llama", "gpt2"])
def test_full_fine_tune_in_memory_equals_the_saved_checkpoints(build, tmp_path):
    """Checkpoints: GPT-2's Conv1D layout comes from model.config, its tied head is dropped as on disk."""
    base, tuned = build(), perturbed(build(), seed=5)
    on_disk = lorascope.scan(save_model(base, tmp_path / "b"), save_model(tuned, tmp_path / "t"), k=3, cache=False)
    assert on_disk.tuned_kind == "checkpoint" and on_disk.total_intruders > 0
    same_scan(lorascope.scan(base, tuned, k=3, cache=False), on_disk)
    if build is tiny_llama:  # a state dict is taken as given: GPT-2's would hold its tied head twice
        same_scan(lorascope.scan(base.state_dict(), tmp_path / "t", k=3, cache=False), on_disk)


def test_nothing_is_written_without_the_cache_and_only_the_index_with_it(llama_lora, tmp_path, monkeypatch):
    base, peft_model, _, _ = llama_lora
    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir()
    for var in ("HOME", "XDG_CACHE_HOME", "TMPDIR"):
        monkeypatch.setenv(var, str(home))
    monkeypatch.setenv("LORASCOPE_CACHE", str(cache))
    monkeypatch.chdir(home)
    uncached = lorascope.scan(base, peft_model, k=4, cache=False)
    assert list(tmp_path.rglob("*")) == [home]  # no file, no folder, anywhere

    cold = lorascope.scan(base, peft_model, k=4)  # default: the base index, keyed by content, as for folders
    warm = lorascope.scan(base, peft_model, k=4)
    assert cold.base_spectra_computed == len(cold.matrices) and warm.base_spectra_computed == 0
    same_scan(cold, uncached)
    same_scan(warm, uncached)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(cache in p.parents for p in written)


def test_caller_tensors_stay_as_they_were(llama_lora):
    base, peft_model, _, _ = llama_lora
    before = {k: v.clone() for k, v in peft_model.state_dict().items()}
    state = {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in base.state_dict().items()}
    state_before = {k: v.detach().clone() for k, v in state.items()}
    lorascope.scan(state, peft_model, k=4, cache=False)
    assert all(torch.equal(v, before[k]) for k, v in peft_model.state_dict().items())
    assert all(torch.equal(v.detach(), state_before[k]) for k, v in state.items())


def test_bad_in_memory_inputs_are_one_line_errors(llama_lora):
    base, peft_model, _, _ = llama_lora
    state = dict(base.state_dict())
    with pytest.raises(InputError, match=r"'lm_head.weight' is a str, not a tensor"):
        lorascope.scan({**state, "lm_head.weight": "oops"}, peft_model, k=4, cache=False)
    bad = state["model.layers.0.self_attn.q_proj.weight"].clone()
    bad[0, 0] = float("nan")
    with pytest.raises(InputError, match=r"in-memory BASE state dict.*q_proj.weight.*non-finite"):
        lorascope.scan({**state, "model.layers.0.self_attn.q_proj.weight": bad}, peft_model, k=4, cache=False)
    with pytest.raises(InputError, match="expected a path, an nn.Module, a PeftModel or a state dict; got list"):
        lorascope.scan(base, [1, 2], cache=False)
    with pytest.raises(InputError, match="no BASE given"):
        lorascope.scan(None, perturbed(base), cache=False)
    with pytest.raises(InputError, match="unmerged LoRA tensors"):  # a wrapped model that is not the PeftModel
        lorascope.scan(base, peft_model.base_model.model, cache=False)
