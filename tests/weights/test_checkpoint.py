"""Opening checkpoints: HF folders, single files, shards, pickles; and every way an input can be unusable."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from fixtures import models
from lorascope.weights import open_checkpoint, plan_pairs


def test_folder_store_reads_config_and_tensors(llama, llama_dir):
    store = open_checkpoint(llama_dir)
    reference = models.state_dict(llama)
    key = "model.layers.0.self_attn.q_proj.weight"
    assert store.config["model_type"] == "llama"
    assert store.shape(key) == (32, 32) and store.dtype(key) == torch.float32
    assert store.file_of(key) == llama_dir / "model.safetensors"
    assert torch.equal(store.get(key), reference[key])
    assert set(store.keys()) <= set(reference)


def test_single_file_store_uses_config_beside_it(llama_dir):
    store = open_checkpoint(llama_dir / "model.safetensors")
    assert store.config is not None and store.config["model_type"] == "llama"


def test_sharded_equals_unsharded(llama, tmp_path):
    whole = models.save_model(llama, tmp_path / "whole")
    sharded = models.save_model(llama, tmp_path / "sharded", max_shard_size="20KB")
    assert (sharded / "model.safetensors.index.json").is_file()
    one, many = open_checkpoint(whole), open_checkpoint(sharded)
    assert len({many.file_of(k) for k in many}) > 1
    assert sorted(one.keys()) == sorted(many.keys())
    for key in one:
        assert torch.equal(one.get(key), many.get(key))
    tuned = models.save_model(models.perturbed(llama), tmp_path / "tuned")
    plan_one, plan_many = plan_pairs(whole, tuned), plan_pairs(sharded, tuned)
    assert [p.name for p in plan_one.pairs] == [p.name for p in plan_many.pairs]
    for a, b in zip(plan_one.pairs, plan_many.pairs, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a.load(), b.load(), strict=True))


def test_sharded_bf16(llama, tmp_path):
    base = models.save_model(llama, tmp_path / "bf16", max_shard_size="20KB", dtype=torch.bfloat16)
    store = open_checkpoint(base)
    key = "model.layers.1.mlp.down_proj.weight"
    assert store.dtype(key) == torch.bfloat16
    tuned = models.save_model(models.perturbed(llama), tmp_path / "tuned")
    pair = next(p for p in plan_pairs(base, tuned).pairs if p.name == key)
    w0, wt = pair.load()
    assert w0.dtype == torch.float32 and wt.dtype == torch.float32
    assert torch.equal(w0, models.state_dict(llama)[key].bfloat16().float())


def _sharded(llama, tmp_path: Path) -> tuple[Path, dict]:
    folder = models.save_model(llama, tmp_path / "sharded", max_shard_size="20KB")
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    return folder, index


def test_missing_shard(llama, tmp_path, refused):
    folder, index = _sharded(llama, tmp_path)
    shard = sorted(set(index["weight_map"].values()))[-1]
    (folder / shard).unlink()
    refused(lambda: open_checkpoint(folder), "model.safetensors.index.json", shard, "missing")


def test_tensor_listed_in_wrong_shard(llama, tmp_path, refused):
    folder, index = _sharded(llama, tmp_path)
    shards = sorted(set(index["weight_map"].values()))
    key = next(k for k, v in index["weight_map"].items() if v == shards[0])
    index["weight_map"][key] = shards[1]
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    refused(lambda: open_checkpoint(folder), key, shards[1], "does not hold it")


def test_duplicate_tensor_across_shards(tmp_path, refused):
    folder = tmp_path / "dup"
    folder.mkdir()
    save_file({"a.weight": torch.ones(2, 2), "b.weight": torch.ones(2, 2)}, str(folder / "s1.safetensors"))
    save_file({"a.weight": torch.zeros(2, 2), "c.weight": torch.ones(2, 2)}, str(folder / "s2.safetensors"))
    weight_map = {"a.weight": "s1.safetensors", "b.weight": "s1.safetensors", "c.weight": "s2.safetensors"}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    refused(lambda: open_checkpoint(folder), "a.weight", "s1.safetensors", "s2.safetensors")


def test_malformed_index(tmp_path, refused):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "model.safetensors.index.json").write_text("{oops")
    refused(lambda: open_checkpoint(folder), "model.safetensors.index.json", "JSON")


def test_shard_name_escaping_folder(tmp_path, refused):
    folder = tmp_path / "escape"
    folder.mkdir()
    index = {"weight_map": {"a.weight": "../elsewhere.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    refused(lambda: open_checkpoint(folder), "a.weight", "invalid shard name")


def test_empty_folder(tmp_path, refused):
    (tmp_path / "empty").mkdir()
    refused(lambda: open_checkpoint(tmp_path / "empty"), str(tmp_path / "empty"), "empty")
    refused(lambda: plan_pairs(tmp_path / "empty", tmp_path / "empty"), "empty")


def test_folder_without_weights(tmp_path, refused):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hi")
    refused(lambda: open_checkpoint(tmp_path / "other"), "no weights found")


def test_several_safetensors_without_index(tmp_path, refused):
    for name in ("a", "b"):
        save_file({name: torch.ones(1)}, str(tmp_path / f"{name}.safetensors"))
    refused(lambda: open_checkpoint(tmp_path), "2 .safetensors files", "index")


def test_path_that_does_not_exist(tmp_path, refused):
    missing = tmp_path / "nowhere"
    refused(lambda: plan_pairs(missing, missing), str(missing), "does not exist")


def test_symlink_loop(tmp_path, refused):
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    refused(lambda: open_checkpoint(loop), str(loop), "symlink loop")
    a, b = tmp_path / "a", tmp_path / "b"
    os.symlink(b, a)
    os.symlink(a, b)
    refused(lambda: plan_pairs(a, b), "symlink loop")


def test_unknown_file_format(tmp_path, refused):
    path = tmp_path / "weights.npz"
    path.write_bytes(b"PK")
    refused(lambda: open_checkpoint(path), str(path), "unknown weights format")


def test_nan_and_inf_named_on_read(llama, tmp_path, refused):
    key = "model.layers.0.mlp.up_proj.weight"
    for bad in (float("nan"), float("inf")):
        model = models.perturbed(llama, scale=0.0)
        with torch.no_grad():
            model.get_parameter(key)[3, 4] = bad
        folder = models.save_model(model, tmp_path / f"bad_{bad}")
        plan = plan_pairs(folder, folder)  # headers only: planning works
        pair = next(p for p in plan.pairs if p.name == key)
        refused(pair.load, key, str(folder / "model.safetensors"), "non-finite", root=folder)


def _state(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "layer.0.proj.weight": torch.randn(6, 4, generator=generator),
        "layer.0.proj.bias": torch.randn(6, generator=generator),
    }


def test_pickle_refused_without_allow_pickle(tmp_path, refused):
    path = tmp_path / "pytorch_model.bin"
    torch.save(_state(), path)
    refused(lambda: open_checkpoint(path), str(path), "allow_pickle")
    refused(lambda: open_checkpoint(tmp_path), str(path), "allow_pickle")
    refused(lambda: plan_pairs(path, path), "allow_pickle")


def test_pickle_read_with_allow_pickle(tmp_path):
    zipped, legacy = tmp_path / "a" / "pytorch_model.bin", tmp_path / "b" / "model.pt"
    for path in (zipped, legacy):
        path.parent.mkdir()
    torch.save(_state(0), zipped)
    torch.save(_state(1), legacy, _use_new_zipfile_serialization=False)
    plan = plan_pairs(zipped.parent, legacy, allow_pickle=True)
    assert [p.name for p in plan.pairs] == ["layer.0.proj.weight"]
    w0, wt = plan.pairs[0].load()
    assert torch.equal(w0, _state(0)["layer.0.proj.weight"])
    assert torch.equal(wt, _state(1)["layer.0.proj.weight"])


class _Payload:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("name", ["pytorch_model.bin", "evil.pt"])
def test_pickle_with_code_refused_even_when_allowed(tmp_path, refused, name):
    marker = tmp_path / "pwned"
    path = tmp_path / "m" / name
    path.parent.mkdir()
    torch.save({"w": torch.ones(2, 2), "x": _Payload(marker)}, path)
    refused(lambda: open_checkpoint(path, allow_pickle=True), str(path), "refused")
    assert not marker.exists()


def test_adapter_folder_as_base_is_refused(llama_dir, llama_adapter, refused):
    refused(lambda: plan_pairs(llama_adapter.path, llama_dir), "BASE", "adapter", root=llama_adapter.path)


def test_dangling_symlink(tmp_path, refused):
    link = tmp_path / "link"
    os.symlink(tmp_path / "gone", link)
    refused(lambda: open_checkpoint(link), str(link), "dangling symlink")


@pytest.mark.parametrize("keep", [20, -100])
def test_truncated_model_file_through_plan(llama, tmp_path, refused, keep):
    folder = models.save_model(llama, tmp_path / "cut")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:keep])
    refused(lambda: plan_pairs(folder, folder), str(weights), "truncated")
