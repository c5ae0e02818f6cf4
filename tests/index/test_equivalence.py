"""Cold (index empty), warm (index built) and --no-cache scans give the same JSON; warm decomposes nothing."""

from __future__ import annotations

import pytest
import scipy.linalg
import torch

import lorascope
from index.builders import entry_dirs, scan_json, small_model
from lorascope.pipelines.index import build_index


def test_warm_equals_cold_equals_no_cache_for_adapter_and_checkpoint(tmp_path, decompositions):
    model = small_model(tmp_path)
    for tuned in (model.adapter, model.full):
        cache = tmp_path / f"cache-{tuned.name}"
        decompositions.clear()
        uncached = scan_json(lorascope.scan(model.base, tuned, cache=False))
        assert len(decompositions) == 2 and not entry_dirs(cache)
        cold = scan_json(lorascope.scan(model.base, tuned, cache_dir=cache))
        assert len(decompositions) == 4 and len(entry_dirs(cache)) == 2
        warm = scan_json(lorascope.scan(model.base, tuned, cache_dir=cache))
        assert len(decompositions) == 4, "the warm scan decomposed a base matrix"
        assert cold == uncached
        assert warm == uncached
        assert not warm["warnings"]
    assert lorascope.scan(model.base, model.adapter, cache=False).total_intruders > 0


def test_index_then_scan_builds_nothing_and_matches(tmp_path, decompositions):
    model = small_model(tmp_path)
    cache = tmp_path / "cache"
    report = build_index(model.base, cache_dir=cache)
    assert [m.status for m in report.matrices] == ["built", "built"]
    decompositions.clear()
    warm = scan_json(lorascope.scan(model.base, model.adapter, cache_dir=cache))
    assert decompositions == []
    assert warm == scan_json(lorascope.scan(model.base, model.adapter, cache=False))
    again = build_index(model.base, cache_dir=cache)
    assert [m.status for m in again.matrices] == ["hit", "hit"]


def test_conv1d_orientation_of_index_matches_the_scan(tmp_path, decompositions):
    """GPT-2 stores c_attn/c_proj/c_fc as (in, out); `index` must key them as the scan analyses them."""
    from peft import LoraConfig

    from fixtures import models

    model = models.build("gpt2")
    models.save_model(model, tmp_path / "base")
    art = models.make_adapter(model, tmp_path / "adapter", LoraConfig(r=2, target_modules=["c_attn", "c_proj"],
                                                                     fan_in_fan_out=True))
    build_index(tmp_path / "base", cache_dir=tmp_path / "cache")
    decompositions.clear()
    lorascope.scan(tmp_path / "base", art.path, cache_dir=tmp_path / "cache")
    assert decompositions == []


def test_warm_paths_use_the_fast_solvers_and_decompose_no_dense_matrix(tmp_path):
    """Warm adapter: the structured path; warm checkpoint: Krylov top-k. With the cost model sent to the iterative
    paths (its choice for large matrices), no SVD/eigh of W, W_t, a Gram matrix or the projected problem runs."""
    import lorascope.spectral.topk as topk
    from lorascope.spectral.cost import Plan

    model = small_model(tmp_path)  # 300 × 400 and 400 × 300: Krylov bases stay ≤ 240 columns
    cache = tmp_path / "cache"
    lorascope.scan(model.base, model.adapter, cache_dir=cache)
    big: list[tuple[str, tuple[int, ...]]] = []

    def watch(name, real):
        def wrapped(A, *args, **kwargs):
            if min(A.shape[-2:]) > 240:
                big.append((name, tuple(A.shape)))
            return real(A, *args, **kwargs)
        return wrapped

    iterative = Plan("iterative", 1.0, 1.0, 10**9)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(topk, "plan_projected", lambda *a, **kw: iterative)
        mp.setattr(topk, "plan_dense_matrix", lambda *a, **kw: iterative)
        for name in ("svd", "eigh", "svdvals", "eigvalsh"):
            mp.setattr(torch.linalg, name, watch(name, getattr(torch.linalg, name)))
        mp.setattr(scipy.linalg, "eigh", watch("scipy.eigh", scipy.linalg.eigh))
        warm = lorascope.scan(model.base, model.adapter, cache_dir=cache)
        assert big == []
        # "lowrank" (structured, from the stored base), or "krylov" when that result was polished on the real W_t
        assert {m.analysis.solver for m in warm.matrices} <= {"lowrank", "krylov"}
        assert "lowrank" in {m.analysis.solver for m in warm.matrices}
        # (a checkpoint's update statistics need all singular values of the dense ΔW, so no watch there)
        full = lorascope.scan(model.base, model.full, cache_dir=cache)
        assert {m.analysis.solver for m in full.matrices} == {"krylov"}
    # At these sizes the cost model itself picks the dense paths (see spectral/cost.py), with the same verdicts.
    auto = lorascope.scan(model.base, model.adapter, cache_dir=cache)
    assert {m.analysis.solver for m in auto.matrices} == {"lowrank-dense"}
    assert [[t.intruder for t in m.analysis.top] for m in auto.matrices] == \
        [[t.intruder for t in m.analysis.top] for m in warm.matrices]
    assert {m.analysis.solver for m in lorascope.scan(model.base, model.full, cache_dir=cache).matrices} == {"dense"}


def test_unwritable_cache_dir_still_scans_with_a_warning(tmp_path):
    model = small_model(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = lorascope.scan(model.base, model.adapter, cache_dir=blocker / "cache")
    assert any("cannot write the index" in w for w in result.warnings)
    data = scan_json(result)
    data["warnings"] = []
    assert data == scan_json(lorascope.scan(model.base, model.adapter, cache=False))
