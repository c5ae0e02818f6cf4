"""The intruder monitor: from a plain loop and from transformers' Trainer; the probe agrees with analyze_matrix."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from lorascope.errors import InputError
from lorascope.monitor import IntruderMonitor
from lorascope.spectral import LowRankUpdate, analyze_matrix, base_spectrum
from lorascope.training.probe import IntruderProbe, gram_top


def lora_llama(llama_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(llama_dir)
    torch.manual_seed(0)  # LoRA's A initialisation
    return get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"]))


def check_rows(rows: list[dict], k: int, epsilon: float) -> None:
    for row in rows:
        assert set(row) == {"step", "matrix", "sigma", "max_cos", "intruders", "seconds"}
        assert len(row["sigma"]) == len(row["max_cos"]) == k
        assert all(a >= b - 1e-9 for a, b in zip(row["sigma"], row["sigma"][1:], strict=False))
        assert all(0 <= c <= 1 + 1e-9 for c in row["max_cos"])
        assert row["intruders"] == sum(c < epsilon for c in row["max_cos"])


def test_monitor_in_a_plain_loop(llama_dir, tmp_path):
    model = lora_llama(llama_dir)
    path = tmp_path / "intruders.jsonl"
    monitor = IntruderMonitor(model, path, every=2, pattern=r"layers\.[01]\..*(q_proj|up_proj)", k=4)
    assert monitor.names == ["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.up_proj",
                             "model.layers.1.self_attn.q_proj", "model.layers.1.mlp.up_proj"]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.05)
    ids = torch.randint(4, 60, (4, 12), generator=torch.Generator().manual_seed(0))
    assert [p.intruders for p in monitor.step(model, 0)] == [0, 0, 0, 0]  # W0 + 0
    for step in range(1, 7):
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
        found = monitor.step(model, step)
        assert (found is None) == (step % 2 == 1)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["step"] for r in rows] == [0] * 4 + [2] * 4 + [4] * 4 + [6] * 4
    assert rows == monitor.history
    check_rows(rows, 4, 0.5)
    assert sum(r["intruders"] for r in rows if r["step"] == 6) > 0  # lr 0.05 on random tiny matrices


def test_monitor_as_trainer_callback(llama_dir, tmp_path):
    pytest.importorskip("accelerate")  # transformers' Trainer needs it
    from transformers import Trainer, TrainingArguments

    from lorascope import monitor as monitor_module

    model = lora_llama(llama_dir)
    monitor = IntruderMonitor(model, tmp_path / "m.jsonl", every=1, pattern="v_proj", k=3)
    assert isinstance(monitor.callback(), monitor_module.IntruderCallback)
    ids = torch.randint(4, 60, (8, 10), generator=torch.Generator().manual_seed(0))
    data = [{"input_ids": row, "labels": row} for row in ids]
    args = TrainingArguments(output_dir=str(tmp_path / "trainer"), max_steps=2, per_device_train_batch_size=4,
                             learning_rate=0.05, report_to=[], save_strategy="no", use_cpu=True,
                             logging_strategy="no", disable_tqdm=True)
    Trainer(model=model, args=args, train_dataset=data, callbacks=[monitor.callback()]).train()
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 1, 1, 2, 2, 2]
    check_rows(rows, 3, 0.5)


def test_full_fine_tuning_uses_the_weights_at_creation_as_base(llama_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(llama_dir)
    probe = IntruderProbe(model, ["model.layers.2.mlp.down_proj"], k=5)
    assert probe.measure(model)[0].intruders == 0
    with torch.no_grad():
        W = model.model.layers[2].mlp.down_proj.weight
        U0 = torch.linalg.svd(W.double(), full_matrices=False)[0]
        u = (U0[:, :5].sum(1) / 5 ** 0.5).float()  # |cos| = 1/√5 ≈ 0.447 with five base vectors, 0 with the rest
        v = torch.randn(W.shape[1], generator=torch.Generator().manual_seed(0))
        W.add_(100 * torch.linalg.matrix_norm(W, 2) * torch.outer(u, v / v.norm()))
    found = probe.measure(model)[0]
    assert found.intruders >= 1 and found.max_cos[0] == pytest.approx(5 ** -0.5, abs=5e-3)


def test_probe_on_indexed_spectra_agrees_and_decomposes_each_base_once(llama_dir, tmp_path, monkeypatch):
    """A probe fed by the base index measures what the float64-SVD probe does; a second one decomposes nothing."""
    import lorascope.index.spectra as index_spectra
    from lorascope.index import IndexLayout, kept_spectrum

    calls = []
    real = index_spectra.base_spectrum
    monkeypatch.setattr(index_spectra, "base_spectrum", lambda W0, *a, **kw: calls.append(1) or real(W0, *a, **kw))
    model = lora_llama(llama_dir)
    layout = IndexLayout(tmp_path / "index")
    notes: list[str] = []
    names = ["model.layers.0.self_attn.q_proj", "model.layers.1.mlp.up_proj"]
    plain = IntruderProbe(model, names, k=4)
    indexed = IntruderProbe(model, names, k=4, spectra=lambda W0: kept_spectrum(W0, layout, notes))
    assert len(calls) == 2 and notes == []
    IntruderProbe(model, names, k=4, spectra=lambda W0: kept_spectrum(W0, layout, notes))
    assert len(calls) == 2  # both read back from the index
    with torch.no_grad():
        for name, module in model.named_modules():
            if name.endswith("lora_B.default"):
                module.weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    for a, b in zip(plain.measure(model), indexed.measure(model), strict=True):
        assert a.sigma == pytest.approx(b.sigma, rel=1e-6)
        assert a.max_cos == pytest.approx(b.max_cos, abs=1e-5)  # float32 U in the index: ~1e-7
        assert a.intruders == b.intruders
    assert sum(p.intruders for p in plain.measure(model)) > 0  # the comparison covers intruders too


def test_an_unchanged_matrix_is_measured_without_a_decomposition_and_agrees_with_one(llama_dir):
    model = lora_llama(llama_dir)  # B = 0: every adapted matrix is still W0
    name = "model.layers.1.mlp.up_proj"
    found = IntruderProbe(model, [name], k=4).measure(model)[0]
    W0 = dict(model.named_modules())[f"base_model.model.{name}"].get_base_layer().weight
    U, S = gram_top(W0, 4)
    assert found.sigma == pytest.approx(S.tolist(), rel=1e-9)
    assert found.max_cos == [1.0] * 4 and found.intruders == 0
    from lorascope.spectral import base_spectrum, max_cos

    computed, _ = max_cos(U, base_spectrum(W0, method="svd").U)
    assert computed.tolist() == pytest.approx(found.max_cos, abs=1e-6)  # what the decomposition would have said


def test_gram_solver_agrees_with_analyze_matrix():
    g = torch.Generator().manual_seed(0)
    for shape in [(48, 32), (32, 48), (40, 40)]:
        W0 = torch.randn(shape, generator=g) * torch.logspace(0, -1, shape[1])
        update = LowRankUpdate(torch.randn(shape[0], 3, generator=g), torch.randn(3, shape[1], generator=g), 0.5)
        base = base_spectrum(W0, method="svd")
        reference = analyze_matrix(W0, update, k=6, epsilon=0.5, base=base, solver="exact")
        U, S = gram_top(W0 + update.dense(torch.float32), 6)
        assert S.tolist() == pytest.approx([t.sigma for t in reference.top], rel=1e-5)
        from lorascope.spectral import max_cos

        cos, _ = max_cos(U, base.U)
        assert cos.tolist() == pytest.approx([t.max_cos for t in reference.top], abs=1e-5)


def test_no_matrix_matches_is_an_input_error(llama_dir):
    from transformers import AutoModelForCausalLM

    with pytest.raises(InputError, match="no matrix"):
        IntruderProbe(AutoModelForCausalLM.from_pretrained(llama_dir), pattern="nothing_like_this")


def test_importing_lorascope_does_not_import_transformers():
    code = ("import sys, lorascope, lorascope.monitor, lorascope.pipelines.train, lorascope.pipelines.forget, "
            "lorascope.commands.train, lorascope.commands.forget; "
            "print('transformers' in sys.modules, 'peft' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
