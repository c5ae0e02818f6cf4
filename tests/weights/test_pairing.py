"""plan_pairs: which matrices pair up, how names are matched, and every way BASE and TUNED can disagree."""

from __future__ import annotations

import json

import pytest
import torch
from peft import LoraConfig
from safetensors.torch import load_file, save_file

from fixtures import models
from lorascope.spectral.update import LowRankUpdate
from lorascope.weights import plan_pairs
from lorascope.weights import safetensors_file as safetensors_module

LLAMA_LINEAR = 2 * 7  # q, k, v, o, gate, up, down per layer


def test_full_checkpoint_pairs(llama, llama_dir, tmp_path):
    tuned_model = models.perturbed(llama)
    tuned = models.save_model(tuned_model, tmp_path / "tuned")
    plan = plan_pairs(llama_dir, tuned)
    assert plan.tuned_kind == "checkpoint" and plan.warnings == []
    assert len(plan.pairs) == LLAMA_LINEAR
    assert {s.name for s in plan.skipped} == {"model.embed_tokens.weight", "lm_head.weight"}
    base_state, tuned_state = models.state_dict(llama), models.state_dict(tuned_model)
    for pair in plan.pairs:
        w0, wt = pair.load()
        assert torch.equal(w0, base_state[pair.name]) and torch.equal(wt, tuned_state[pair.name])
        assert pair.source == "checkpoint" and pair.shape == tuple(w0.shape) and not pair.transposed


def test_planning_reads_no_tensor_data(llama_dir, llama_adapter, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("plan_pairs read tensor data")

    monkeypatch.setattr(safetensors_module, "load_tensor", forbidden)
    import lorascope.weights.checkpoint as checkpoint_module

    monkeypatch.setattr(checkpoint_module, "load_tensor", forbidden)
    assert len(plan_pairs(llama_dir, llama_adapter.path).pairs) == LLAMA_LINEAR


def test_gpt2_checkpoint_is_transposed_to_out_in(gpt2, tmp_path):
    base = models.save_model(gpt2, tmp_path / "base")
    tuned_model = models.perturbed(gpt2)
    tuned = models.save_model(tuned_model, tmp_path / "tuned")
    plan = plan_pairs(base, tuned)
    assert len(plan.pairs) == 2 * 4
    pair = next(p for p in plan.pairs if p.name.endswith("h.0.mlp.c_fc.weight"))
    assert pair.shape == (128, 32)  # Conv1D stores (32, 128)
    assert all(p.transposed for p in plan.pairs)  # every GPT-2 matrix is a Conv1D, the square c_proj too
    w0, wt = pair.load()
    assert torch.equal(w0, models.state_dict(gpt2)[pair.name].T)
    assert torch.equal(wt, models.state_dict(tuned_model)[pair.name].T)


def test_gpt2_single_file_without_config_warns(gpt2, tmp_path):
    base = models.save_model(gpt2, tmp_path / "base") / "model.safetensors"
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "base.safetensors").write_bytes(base.read_bytes())
    plan = plan_pairs(lone / "base.safetensors", lone / "base.safetensors")
    assert any("Conv1D" in w for w in plan.warnings)


def test_task_model_against_backbone_pairs_by_prefix(bert, tmp_path):
    classifier = models.tiny_bert_classifier()
    classifier.bert.load_state_dict(bert.state_dict())
    tuned_model = models.perturbed(classifier)
    base = models.save_model(bert, tmp_path / "base")
    tuned = models.save_model(tuned_model, tmp_path / "tuned")
    for plan, base_is_backbone in ((plan_pairs(base, tuned), True), (plan_pairs(tuned, base), False)):
        assert len(plan.pairs) == 2 * 6
        assert any("bert." in w for w in plan.warnings)
        reasons = {s.name: s.reason for s in plan.skipped}
        assert "head" in reasons["classifier.weight"]
        assert ("only in TUNED" if base_is_backbone else "absent in TUNED") in reasons["classifier.weight"]
        for pair in plan.pairs[:3]:
            w0, wt = pair.load()
            backbone_name = pair.name.removeprefix("bert.")
            tuned_w = models.state_dict(tuned_model)["bert." + backbone_name]
            expected_w0, expected_wt = (bert.state_dict()[backbone_name], tuned_w)
            if not base_is_backbone:
                expected_w0, expected_wt = expected_wt, expected_w0
            assert torch.equal(w0, expected_w0) and torch.equal(wt, expected_wt)


def test_llama_backbone_vs_causal_lm(llama, llama_dir, tmp_path):
    backbone = tmp_path / "backbone"
    backbone.mkdir()
    state = {
        k.removeprefix("model."): v for k, v in models.state_dict(llama).items() if k.startswith("model.")
    }
    save_file(state, str(backbone / "model.safetensors"))
    plan = plan_pairs(backbone, llama_dir)
    assert len(plan.pairs) == LLAMA_LINEAR and plan.pairs[0].name.startswith("layers.0.")


def test_roberta_base_layout_gives_72_matrices(tmp_path):
    model = models.tiny_roberta()
    base = models.save_model(model, tmp_path / "base")
    tuned = models.save_model(models.perturbed(model), tmp_path / "tuned")
    plan = plan_pairs(base, tuned)
    assert len(plan.pairs) == 72 == 6 * 12
    skipped = {s.name for s in plan.skipped}
    assert {"embeddings.word_embeddings.weight", "pooler.dense.weight"} <= skipped


def test_include_and_exclude(llama_dir, llama_adapter, tmp_path, refused):
    plan = plan_pairs(llama_dir, llama_dir, include=[r"q_proj", r"lm_head"])
    assert {p.name for p in plan.pairs} == {
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.1.self_attn.q_proj.weight",
        "lm_head.weight",
    }
    plan = plan_pairs(llama_dir, llama_dir, exclude=[r"mlp\."])
    assert len(plan.pairs) == 2 * 4
    assert any("--exclude" in s.reason for s in plan.skipped)
    plan = plan_pairs(llama_dir, llama_adapter.path, include=[r"layers\.1\..*proj"], exclude=["down_proj"])
    assert len(plan.pairs) == 6
    refused(lambda: plan_pairs(llama_dir, llama_dir, include=["input_layernorm"]), "input_layernorm", "2-D")
    refused(
        lambda: plan_pairs(llama_dir, llama_dir, include=["no_such_layer"]), "no_such_layer", "matches no"
    )
    refused(
        lambda: plan_pairs(llama_dir, llama_dir, exclude=["(unclosed"]), "(unclosed", "regular expression"
    )


def test_adapter_for_a_different_base(llama_adapter, tmp_path, refused):
    wider = models.save_model(models.tiny_llama(intermediate_size=40), tmp_path / "other")
    error = refused(
        lambda: plan_pairs(wider, llama_adapter.path), "mlp.up_proj", "lora_A.weight", "different base"
    )
    assert "40" in str(error)


def test_adapter_modules_the_base_lacks(llama_adapter, tmp_path, refused):
    shallow = models.save_model(models.tiny_llama(num_hidden_layers=1), tmp_path / "shallow")
    refused(
        lambda: plan_pairs(shallow, llama_adapter.path), "model.layers.1.", "no weight in BASE", "7 matrices"
    )
    plan = plan_pairs(shallow, llama_adapter.path, allow_missing=True)
    assert len(plan.pairs) == 7
    missing = [s for s in plan.skipped if "no weight in BASE" in s.reason]
    assert len(missing) == 7 and all(s.name.startswith("model.layers.1.") for s in missing)


def test_checkpoint_keys_the_base_lacks(llama, tmp_path, refused):
    shallow = models.save_model(models.tiny_llama(num_hidden_layers=1), tmp_path / "shallow")
    deep = models.save_model(llama, tmp_path / "deep")
    refused(lambda: plan_pairs(shallow, deep), "only in TUNED", "model.layers.1.")
    refused(lambda: plan_pairs(deep, shallow), "absent in TUNED", "model.layers.1.")
    plan = plan_pairs(shallow, deep, allow_missing=True)
    assert len(plan.pairs) == 7 and sum("only in TUNED" in s.reason for s in plan.skipped) == 7


def test_checkpoint_shape_mismatch(llama_dir, tmp_path, refused):
    other = models.save_model(models.tiny_llama(intermediate_size=40), tmp_path / "other")
    refused(lambda: plan_pairs(llama_dir, other), "mlp.up_proj.weight", "(48, 32)", "(40, 32)")
    plan = plan_pairs(llama_dir, other, allow_missing=True)
    assert len(plan.pairs) == 2 * 4 and sum("shape" in s.reason for s in plan.skipped) == 2 * 3


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_unmerged_peft_checkpoint_is_refused(llama, tmp_path, refused):
    from peft import get_peft_model

    wrapped = get_peft_model(models.perturbed(llama, scale=0.0), LoraConfig(target_modules=["q_proj"]))
    folder = tmp_path / "wrapped"
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in wrapped.state_dict().items()}, str(folder / "model.safetensors"))
    base = models.save_model(llama, tmp_path / "base")
    refused(lambda: plan_pairs(base, folder), "unmerged LoRA", "merge_and_unload")


def test_merged_peft_names_are_unwrapped(llama, llama_dir, tmp_path):
    folder = tmp_path / "wrapped_names"
    folder.mkdir()
    state = {
        "base_model.model." + k.replace("q_proj.weight", "q_proj.base_layer.weight"): v
        for k, v in models.state_dict(models.perturbed(llama)).items()
    }
    save_file(state, str(folder / "model.safetensors"))
    assert len(plan_pairs(llama_dir, folder).pairs) == LLAMA_LINEAR


def _rewrite_adapter(source, target, rename):
    target.mkdir()
    (target / "adapter_config.json").write_text((source / "adapter_config.json").read_text())
    tensors = load_file(str(source / "adapter_model.safetensors"))
    save_file({rename(k): v for k, v in tensors.items()}, str(target / "adapter_model.safetensors"))
    return target


def test_adapter_name_infix_in_keys(llama_dir, llama_adapter, tmp_path):
    infixed = _rewrite_adapter(
        llama_adapter.path,
        tmp_path / "infixed",
        lambda k: k.replace(".lora_A.weight", ".lora_A.default.weight").replace(
            ".lora_B.weight", ".lora_B.default.weight"
        ),
    )
    plain, named = plan_pairs(llama_dir, llama_adapter.path), plan_pairs(llama_dir, infixed)
    assert [p.name for p in plain.pairs] == [p.name for p in named.pairs]
    a, b = plain.pairs[3].load()[1], named.pairs[3].load()[1]
    assert isinstance(b, LowRankUpdate) and torch.equal(a.dense(), b.dense())


def test_mixed_adapter_names_are_refused(llama_dir, llama_adapter, tmp_path, refused):
    mixed = _rewrite_adapter(
        llama_adapter.path,
        tmp_path / "mixed",
        lambda k: k.replace(
            "0.self_attn.q_proj.lora_A.weight", "0.self_attn.q_proj.lora_A.one.weight"
        ).replace("0.self_attn.q_proj.lora_B.weight", "0.self_attn.q_proj.lora_B.two.weight"),
    )
    refused(lambda: plan_pairs(llama_dir, mixed), "several adapters", "one", "two", root=mixed)


def test_non_default_adapter_name_sub_folder(llama, llama_dir, tmp_path, refused):
    config = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"])
    artifact = models.make_adapter(llama, tmp_path / "saved", config, adapter_name="mine")
    assert artifact.path == tmp_path / "saved" / "mine"
    assert len(plan_pairs(llama_dir, artifact.path).pairs) == 2
    refused(lambda: plan_pairs(llama_dir, tmp_path / "saved"), "sub-folders", "mine")


def test_lora_factor_without_partner(llama_dir, llama_adapter, tmp_path, refused):
    broken = _rewrite_adapter(
        llama_adapter.path,
        tmp_path / "broken",
        lambda k: k.replace("layers.1.mlp.up_proj.lora_B.weight", "layers.1.mlp.up_proj.lora_X.weight"),
    )
    refused(lambda: plan_pairs(llama_dir, broken), "layers.1.mlp.up_proj", "lora_B")


def test_nan_in_adapter_factor(llama_dir, llama_adapter, tmp_path, refused):
    key = "base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"
    broken = _rewrite_adapter(llama_adapter.path, tmp_path / "nan", lambda k: k)
    tensors = load_file(str(broken / "adapter_model.safetensors"))
    tensors[key][0, 0] = float("nan")
    save_file(tensors, str(broken / "adapter_model.safetensors"))
    pair = next(p for p in plan_pairs(llama_dir, broken).pairs if "0.self_attn.k_proj" in p.name)
    refused(pair.load, key, "adapter_model.safetensors", "NaN", root=broken)


def test_pickled_adapter(llama_dir, llama_adapter, tmp_path, refused):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "adapter_config.json").write_text((llama_adapter.path / "adapter_config.json").read_text())
    torch.save(load_file(str(llama_adapter.path / "adapter_model.safetensors")), legacy / "adapter_model.bin")
    refused(lambda: plan_pairs(llama_dir, legacy), "adapter_model.bin", "allow_pickle")
    plan = plan_pairs(llama_dir, legacy, allow_pickle=True)
    reference = plan_pairs(llama_dir, llama_adapter.path)
    assert torch.equal(plan.pairs[0].load()[1].dense(), reference.pairs[0].load()[1].dense())


def test_trainable_tokens_are_reported(llama, llama_dir, tmp_path):
    config = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"], trainable_token_indices=[1, 5])
    artifact = models.make_adapter(llama, tmp_path / "tokens", config)
    plan = plan_pairs(llama_dir, artifact.path)
    assert len(plan.pairs) == 2
    reasons = {s.name: s.reason for s in plan.skipped}
    assert "trainable_token_indices" in reasons["model.embed_tokens.weight"]


def test_saved_embedding_copy_differing_from_base(llama, tmp_path):
    config = LoraConfig(r=2, lora_alpha=4, target_modules=["embed_tokens"])
    artifact = models.make_adapter(llama, tmp_path / "emb", config)
    base = models.save_model(llama, tmp_path / "base")
    tensors = load_file(str(artifact.path / "adapter_model.safetensors"))
    copy_key = "base_model.model.model.embed_tokens.base_layer.weight"
    assert copy_key in tensors
    plan = plan_pairs(base, artifact.path)
    assert isinstance(plan.pairs[0].load()[1], LowRankUpdate)  # identical copy: stays low-rank
    tensors[copy_key] = tensors[copy_key] + 1.0
    save_file(tensors, str(artifact.path / "adapter_model.safetensors"))
    w0, tuned = plan_pairs(base, artifact.path).pairs[0].load()
    assert isinstance(tuned, torch.Tensor)
    assert torch.allclose(tuned, artifact.merged["model.embed_tokens.weight"] + 1.0, atol=1e-5)


def test_dora_magnitude_without_use_dora_is_refused(llama_dir, tmp_path, llama, refused):
    artifact = models.make_adapter(
        llama, tmp_path / "dora", LoraConfig(target_modules=["q_proj"], use_dora=True)
    )
    config = json.loads((artifact.path / "adapter_config.json").read_text())
    config["use_dora"] = False
    (artifact.path / "adapter_config.json").write_text(json.dumps(config))
    refused(
        lambda: plan_pairs(llama_dir, artifact.path), "lora_magnitude_vector", "use_dora", root=artifact.path
    )


@pytest.mark.parametrize("allow_missing", [False, True])
def test_no_common_matrix(llama_dir, gpt2, tmp_path, allow_missing):
    other = models.save_model(gpt2, tmp_path / "gpt2")
    if allow_missing:
        plan = plan_pairs(llama_dir, other, allow_missing=True)
        assert plan.pairs == [] and any("nothing to analyse" in w for w in plan.warnings)
    else:
        with pytest.raises(Exception, match="do not pair up"):
            plan_pairs(llama_dir, other)


def test_conv_lora_is_reported_not_analysed(tmp_path):
    class ConvThenLinear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.lin = torch.nn.Linear(4, 5)

    torch.manual_seed(0)
    model = ConvThenLinear()
    base = tmp_path / "base"
    base.mkdir()
    save_file(models.state_dict(model), str(base / "model.safetensors"))
    config = LoraConfig(r=2, target_modules=["conv", "lin"])
    artifact = models.make_adapter(model, tmp_path / "adapter", config)
    plan = plan_pairs(base, artifact.path)
    assert [p.name for p in plan.pairs] == ["lin.weight"]
    w0, update = plan.pairs[0].load()
    expected = artifact.merged["lin.weight"]
    assert torch.allclose(w0 + update.dense(torch.float32), expected, rtol=1e-5, atol=1e-7)
    reasons = {s.name: s.reason for s in plan.skipped}
    assert "conv" in reasons["conv.weight"] and "not a matrix" in reasons["conv.weight"]


def test_prefix_map_never_strips_a_whole_module_name():
    """A task head only TUNED has (`score.weight`) must not be paired with BASE's `model.norm.weight`."""
    from lorascope.weights.name_map import find_prefix_map

    base = {"model.norm.weight", "model.layers.0.self_attn.q_proj.weight"}
    assert find_prefix_map(base, ["score.weight"])("score.weight", base) is None
    wrapped = find_prefix_map(base, ["layers.0.self_attn.q_proj.weight"])
    assert wrapped("layers.0.self_attn.q_proj.weight", base) == "model.layers.0.self_attn.q_proj.weight"
