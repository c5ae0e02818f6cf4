"""Keyed by content: a tensor rewritten in place (same path, new bytes) never hits its old entry."""

from __future__ import annotations

import numpy as np
import torch

import lorascope
from index.builders import entry_dirs, scan_json, small_model, write_checkpoint
from lorascope.index import full_hash, index_layout, sampled_ranges, tensor_key
from lorascope.pipelines.index import build_index


def _outside_samples(W: torch.Tensor, count: int) -> list[int]:
    """Flat indices of `count` elements none of whose bytes the sampled hash reads."""
    covered = np.zeros(W.numel() * 4, dtype=bool)
    for start, stop in sampled_ranges(W.numel() * 4):
        covered[start:stop] = True
    free = [i for i in range(W.numel()) if not covered[4 * i:4 * i + 4].any()]
    return [free[len(free) // 3], free[2 * len(free) // 3]][:count]


def _bits_moved(W: torch.Tensor, flat: int, by: int) -> torch.Tensor:
    """W with element `flat` moved by `by` units in the last place (its bit pattern + by)."""
    out = W.clone().contiguous()
    words = out.view(-1).numpy().view(np.uint32)
    words[flat] = np.uint32(int(words[flat]) + by)
    return out


def test_same_path_new_bytes_is_rebuilt_not_served(tmp_path, decompositions):
    model = small_model(tmp_path)
    cache = tmp_path / "cache"
    build_index(model.base, cache_dir=cache)
    changed = dict(model.base_tensors)
    name = model.names[0]
    changed[name] = changed[name] * 1.5 + 0.01
    write_checkpoint(model.base, changed)  # overwrite the same file
    decompositions.clear()
    warm = scan_json(lorascope.scan(model.base, model.adapter, cache_dir=cache))
    assert decompositions == [tuple(changed[name].shape)]  # only the changed matrix was recomputed
    assert warm == scan_json(lorascope.scan(model.base, model.adapter, cache=False))
    assert len(entry_dirs(cache)) == 3


def test_one_element_outside_the_samples_changes_the_key(tmp_path, decompositions):
    model = small_model(tmp_path)
    cache = tmp_path / "cache"
    build_index(model.base, cache_dir=cache)
    name = model.names[1]
    W = model.base_tensors[name]
    (flat,) = _outside_samples(W, 1)
    moved = _bits_moved(W, flat, 1)  # one element, one ulp
    old, new = tensor_key(W), tensor_key(moved)
    assert old.sample_sha256 == new.sample_sha256  # the sampled bytes cannot see it ...
    assert old.digest != new.digest  # ... the whole-tensor sums do
    write_checkpoint(model.base, {**model.base_tensors, name: moved})
    decompositions.clear()
    lorascope.scan(model.base, model.full, cache_dir=cache)
    assert decompositions == [tuple(W.shape)]


def test_a_change_only_the_float_moments_catch():
    """+1 ulp on one element and -1 ulp on another, both unsampled: same bytes sampled, same word sum."""
    W = torch.randn(300, 400, generator=torch.Generator().manual_seed(1))
    a, b = _outside_samples(W, 2)
    moved = _bits_moved(_bits_moved(W, a, 1), b, -1)
    old, new = tensor_key(W), tensor_key(moved)
    assert (old.sample_sha256, old.word_sum) == (new.sample_sha256, new.word_sum)
    assert old.moments != new.moments and old.digest != new.digest


def test_transposed_square_matrix_has_another_key():
    W = torch.randn(64, 64, generator=torch.Generator().manual_seed(2))
    assert tensor_key(W).digest != tensor_key(W.T.contiguous()).digest
    assert tensor_key(W).digest == tensor_key(W.clone()).digest


def test_full_hash_catches_what_the_cheap_key_does_not(tmp_path):
    """An entry whose recorded source SHA-256 disagrees is served by the cheap check, rebuilt by --full-hash."""
    import json

    model = small_model(tmp_path)
    cache = tmp_path / "cache"
    build_index(model.base, cache_dir=cache)
    key = tensor_key(model.base_tensors[model.names[0]])
    meta_path = index_layout(cache).entry(key.digest) / "meta.json"
    meta = json.loads(meta_path.read_text())
    assert meta["source_sha256"] == full_hash(model.base_tensors[model.names[0]])
    meta["source_sha256"] = "0" * 64  # as if the entry had been built from other bytes with the same cheap key
    meta_path.write_text(json.dumps(meta))
    assert [m.status for m in build_index(model.base, cache_dir=cache).matrices] == ["hit", "hit"]
    report = build_index(model.base, cache_dir=cache, full_hash=True)
    status = {m.name: m.status for m in report.matrices}
    assert status == {model.names[0]: "rebuilt", model.names[1]: "hit"}
    assert next(m for m in report.matrices if m.status == "rebuilt").replaced.startswith("stale")
    assert json.loads(meta_path.read_text())["source_sha256"] == full_hash(model.base_tensors[model.names[0]])
