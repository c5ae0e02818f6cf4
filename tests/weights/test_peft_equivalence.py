"""Real PEFT adapters: W0 + ΔW from the plan equals PEFT's own merge_and_unload() weights, per matrix."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig

from fixtures import models
from lorascope.spectral.update import LowRankUpdate
from lorascope.weights import open_checkpoint, plan_pairs, read_adapter
from lorascope.weights.names import is_head

RTOL = 1e-5

PATTERNS = {
    "llama": (
        {"q_proj": 2, r"layers\.1\.mlp\.down_proj": 6},
        {"v_proj": 3, "down_proj": 5, r"layers\.0\..*up_proj": 11},
    ),
    "gpt2": ({"c_attn": 2, r"h\.1\.mlp\.c_proj": 6}, {"c_fc": 3, r"h\.0\.attn\..*": 7}),
    "bert": ({"query": 2, r"layer\.1\.output\.dense": 6}, {"value": 3, "dense": 5}),
}


def _config(arch: str, scenario: str) -> tuple[LoraConfig, tuple[str, ...]]:
    """LoraConfig of a scenario, and the include patterns the plan needs to show every changed matrix."""
    targets = models.LINEAR_TARGETS[arch]
    common = dict(r=4, lora_alpha=8, target_modules=targets, fan_in_fan_out=arch == "gpt2")
    if scenario == "plain":
        return LoraConfig(**common), ()
    if scenario == "alpha_2r":
        return LoraConfig(**{**common, "r": 8, "lora_alpha": 16}), ()
    if scenario == "rslora":
        return LoraConfig(**common, use_rslora=True), ()
    if scenario == "patterns":
        ranks, alphas = PATTERNS[arch]
        return LoraConfig(**common, rank_pattern=ranks, alpha_pattern=alphas), ()
    if scenario == "dora":
        return LoraConfig(**common, use_dora=True), ()
    with_embedding = {**common, "target_modules": [*targets, models.EMBEDDING_TARGET[arch]]}
    if scenario == "dora_embedding":
        return LoraConfig(**with_embedding, use_dora=True), ()
    if scenario == "embedding":
        return LoraConfig(**with_embedding), ()
    if scenario == "modules_to_save":
        if arch == "gpt2":  # a replaced Conv1D layer (stored (in, out)) next to LoRA ones
            return LoraConfig(**{**common, "target_modules": ["c_attn"]}, modules_to_save=["c_fc"]), ()
        head = "classifier" if arch == "bert" else "lm_head"
        return LoraConfig(**common, modules_to_save=[head]), (".",)
    if scenario == "fan_in_fan_out_false":  # PEFT overrides the flag for Conv1D layers; so must the reader
        return LoraConfig(**{**common, "fan_in_fan_out": False}), ()
    if scenario == "lora_bias":
        return LoraConfig(**common, lora_bias=True), ()
    raise AssertionError(scenario)


SCENARIOS = [
    (arch, scenario)
    for arch in models.ARCHS
    for scenario in (
        "plain",
        "alpha_2r",
        "rslora",
        "patterns",
        "dora",
        "dora_embedding",
        "embedding",
        "modules_to_save",
        "lora_bias",
    )
] + [("gpt2", "fan_in_fan_out_false")]


def _model(arch: str, scenario: str):
    if arch == "bert" and scenario == "modules_to_save":
        return models.tiny_bert_classifier()
    if arch == "llama" and scenario == "lora_bias":  # PEFT merges lora_B.bias into the layer's bias
        return models.tiny_llama(attention_bias=True, mlp_bias=True)
    return models.build(arch)


def _relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    expected = expected.double()
    return float((actual.double() - expected).norm() / expected.norm())


@pytest.mark.parametrize(("arch", "scenario"), SCENARIOS, ids=[f"{a}-{s}" for a, s in SCENARIOS])
def test_plan_reproduces_peft_merge(tmp_path, arch, scenario):
    model = _model(arch, scenario)
    base = models.save_model(model, tmp_path / "base")
    config, include = _config(arch, scenario)
    artifact = models.make_adapter(model, tmp_path / "adapter", config, seed=7)
    plan = plan_pairs(base, artifact.path, include=include)
    assert plan.tuned_kind == "adapter" and plan.pairs

    for pair in plan.pairs:
        w0, tuned = pair.load()
        expected = artifact.merged[pair.name]
        expected_w0 = artifact.base[pair.name]
        if arch == "gpt2" and models.is_conv1d(pair.name):
            expected, expected_w0 = expected.T, expected_w0.T
        assert w0.dtype == torch.float32 and tuple(w0.shape) == pair.shape == tuple(expected.shape)
        assert torch.equal(w0, expected_w0), pair.name
        if isinstance(tuned, LowRankUpdate):
            assert pair.source == "lora"
            merged = w0.double() + tuned.dense(torch.float64)
        else:
            assert tuned.dtype == torch.float32 and tuned.shape == w0.shape
            merged = tuned
        assert _relative_error(merged, expected) <= RTOL, pair.name

    sources = {p.source for p in plan.pairs}
    if scenario.startswith("dora"):
        assert sources == {"dora"}
    if scenario == "modules_to_save":
        assert "replaced" in sources
    if scenario.endswith("embedding"):
        table = next(p for p in plan.pairs if models.EMBEDDING_TARGET[arch] in p.name)
        assert table.shape == (64, 32)  # stored (num_embeddings, dim) orientation

    # Exactly the matrices PEFT changed are paired, or skipped with a reason (heads by default).
    stored = set(open_checkpoint(base).keys())  # GPT-2's tied lm_head is not stored
    changed = {
        name
        for name, value in artifact.merged.items()
        if value.ndim == 2 and name in stored and not torch.equal(value, artifact.base[name])
    }
    paired = {p.name for p in plan.pairs}
    skipped = {s.name for s in plan.skipped}
    assert paired <= changed
    untouched = changed - paired
    assert untouched <= skipped, untouched
    assert all(is_head(name) or "lm_head" in name for name in untouched)


@pytest.mark.parametrize("arch", models.ARCHS)
def test_ranks_and_scales_match_peft_modules(tmp_path, arch):
    model = models.build(arch)
    config, _ = _config(arch, "patterns")
    artifact = models.make_adapter(model, tmp_path / "adapter", config, seed=3)
    adapter = read_adapter(artifact.path)
    assert {m.module: m.rank for m in adapter.modules} == artifact.ranks
    assert {m.module: m.scale for m in adapter.modules} == pytest.approx(artifact.scalings, rel=1e-12)
    rsconfig = LoraConfig(**{**config.to_dict(), "use_rslora": True, "peft_type": None})
    artifact = models.make_adapter(model, tmp_path / "rs", rsconfig, seed=3)
    adapter = read_adapter(artifact.path)
    assert {m.module: m.scale for m in adapter.modules} == pytest.approx(artifact.scalings, rel=1e-12)


def test_default_plan_leaves_heads_in_skipped(tmp_path):
    model = models.tiny_bert_classifier()
    base = models.save_model(model, tmp_path / "base")
    targets = ["query", "value", "dense"]
    config = LoraConfig(r=4, lora_alpha=8, target_modules=targets, modules_to_save=["classifier"])
    artifact = models.make_adapter(model, tmp_path / "adapter", config)
    plan = plan_pairs(base, artifact.path)
    reasons = {s.name: s.reason for s in plan.skipped}
    assert "head" in reasons["classifier.weight"] and "modules_to_save" in reasons["classifier.weight"]
    assert "head" in reasons["bert.pooler.dense.weight"]
    assert "not a 2-D" in reasons["classifier.bias"]
    assert len(plan.pairs) == 2 * 5  # query, value, attention.output.dense, intermediate.dense, output.dense


def test_lora_bias_is_reported(tmp_path):
    model = models.tiny_llama(mlp_bias=True)
    base = models.save_model(model, tmp_path / "base")
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["up_proj"], lora_bias=True)
    artifact = models.make_adapter(model, tmp_path / "adapter", config)
    plan = plan_pairs(base, artifact.path)
    bias_notes = [s for s in plan.skipped if s.name.endswith("up_proj.bias")]
    assert len(bias_notes) == 2 and all("lora_B.bias" in s.reason for s in bias_notes)
    assert len(plan.pairs) == 2
