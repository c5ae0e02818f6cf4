"""The memory guard of train, run and forget: over budget they stop before writing anything, with one line naming
the estimate, the memory available and the options that help; within budget they run as before."""

from __future__ import annotations

import subprocess

import pytest

from lorascope.errors import ResourceError
from lorascope.memory import ENV, format_bytes
from lorascope.pipelines import memory_guard
from lorascope.pipelines.forget import ForgetOptions, forget
from lorascope.pipelines.memory_guard import train_session_footprint
from lorascope.pipelines.train import TrainConfig, train
from lorascope.training.footprint import Dims, train_block_activations, train_footprint
from reliability import processes


def small(model, **overrides) -> TrainConfig:
    settings = dict(model=str(model), task="rt_polarity", train_examples=32, test_examples=16, batch_size=8,
                    max_length=32, epochs=1, forget_chunks=2, forget_chunk_length=48, k=2, lr=1e-2, threads=1)
    return TrainConfig(**{**settings, **overrides})


def recorded_estimates(monkeypatch) -> list[int]:
    """Every estimate the guard checks from now on (the real check still runs)."""
    seen: list[int] = []
    real = memory_guard.check_budget

    def recording(what, need, described, **kw):
        seen.append(need)
        return real(what, need, described, **kw)

    monkeypatch.setattr(memory_guard, "check_budget", recording)
    return seen


def test_estimate_terms_grow_with_the_options_the_message_names():
    dims = Dims(hidden=576, intermediate=1536, heads=9, layers=30, vocab=49152)
    base = dict(params=135_000_000, trainable=1_000_000, trained_blocks=30, batch=16, width=128, eval_batch=32,
                cached_tokens=0, probe_shapes=[(576, 576)], full=False)
    total = train_footprint(dims, **base).total
    for option, smaller in [("batch", 4), ("width", 32), ("trained_blocks", 4)]:
        assert train_footprint(dims, **{**base, option: smaller}).total < total, option
    # activations: (12h + 5i + 2·a·s) float32 numbers per token and trained block
    assert train_block_activations(dims, 16 * 128, 128) == 4 * 16 * 128 * (12 * 576 + 5 * 1536 + 2 * 9 * 128)
    assert train_footprint(dims, **base).loaded == 4 * 135_000_000


def test_train_over_budget_stops_before_any_write_naming_estimate_memory_and_options(saved, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, "1M")
    out = tmp_path / "run"
    with pytest.raises(ResourceError) as caught:
        train(small(saved.trainable), out, cache_dir=tmp_path / "cache")
    text = str(caught.value)
    assert "\n" not in text and text.startswith("train: needs about ")
    for needle in ["parameters", "optimizer state", "activations", format_bytes(2**20), ENV, "--batch-size",
                   "--train-layers", "--max-length"]:
        assert needle in text, needle
    assert not out.exists() and not (tmp_path / "cache" / "hidden").exists()


def test_a_smaller_batch_that_fits_runs(saved, tmp_path, monkeypatch):
    """A budget between the estimates at batch 2 and batch 16: 16 is refused, 2 trains (the hint is honest)."""
    big, little = small(saved.trainable, batch_size=16), small(saved.trainable, batch_size=2, max_steps=2)
    seen = recorded_estimates(monkeypatch)
    monkeypatch.setenv(ENV, "1")
    for name, config in (("big", big), ("little", little)):
        with pytest.raises(ResourceError):
            train(config, tmp_path / name, cache_dir=tmp_path / "cache")
    need_big, need_little = seen
    assert need_little < need_big
    monkeypatch.setenv(ENV, str((need_little + need_big) // 2))
    with pytest.raises(ResourceError, match="--batch-size"):
        train(big, tmp_path / "big", cache_dir=tmp_path / "cache")
    result = train(little, tmp_path / "little", cache_dir=tmp_path / "cache")
    assert not result.stopped and result.rows[-1]["step"] == 2


def test_estimate_counts_the_model_and_the_cached_bottom(saved, tmp_path):
    from lorascope.training.data import encode, take_subset
    from lorascope.training.modeling import build_classifier
    from lorascope.training.registry import load_task

    config = small(saved.trainable, train_layers="top:1")
    task = load_task("rt_polarity")
    clf = build_classifier(saved.trainable, 2, "lora", 8, 16.0, 1, 0)
    data = encode(clf.tokenizer, take_subset(task.train, 32), 32)
    test = encode(clf.tokenizer, task.test[:16], 32)
    plain = train_session_footprint(clf, config, data, test, cached=False)
    cached = train_session_footprint(clf, config, data, test, cached=True)
    params = sum(p.numel() for p in clf.model.parameters())
    assert plain.loaded == 4 * params and dict(plain.parts)["parameters"] == 4 * params
    hidden = clf.unwrapped().config.hidden_size
    tokens = sum(len(x) for x in data.ids) + sum(len(x) for x in test.ids)
    assert dict(cached.parts)["cached hidden states"] == 4 * hidden * tokens
    assert dict(plain.parts)["optimizer state"] == 12 * sum(p.numel() for _, p in clf.trainable)


def test_cli_train_over_budget_is_one_line_and_exit_2(saved, tmp_path):
    env = {**processes.cli_env(), ENV: "1M"}
    args = ["train", "--model", str(saved.trainable), "--task", "rt_polarity", "--train-examples", "32",
            "--test-examples", "16", "--max-length", "32", "--out", str(tmp_path / "run"),
            "--cache-dir", str(tmp_path / "cache")]
    done = subprocess.run(processes.command(args),
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lorascope: error: train: needs about "), done.stderr
    assert "--batch-size" in lines[0] and ENV in lines[0] and not (tmp_path / "run").exists()


def test_forget_over_budget_stops_naming_the_estimate(saved, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, "200K")  # the estimate is ~440 KiB: the causal loss holds 96 positions' logits
    with pytest.raises(ResourceError) as caught:
        forget(saved.trainable, options=ForgetOptions(chunks=2, chunk_length=48, mode="stream"))
    text = str(caught.value)
    assert text.startswith("forget: needs about ") and "logits" in text and "batch_size" in text and ENV in text
    monkeypatch.delenv(ENV)
    result = forget(saved.trainable, options=ForgetOptions(chunks=2, chunk_length=48, mode="stream"))
    assert result.tokens > 0 and result.loss > 0
