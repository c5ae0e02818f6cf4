"""repair measures each λ through the blocks from the first rescaled matrix up, on the cached output of those
below: the measurements must equal a whole forward pass of the same in-memory model at every λ."""

from __future__ import annotations

import pytest

from lorascope.pipelines.repair import RepairOptions, repair
from lorascope.pipelines.repair_measure import RepairBench

TOP = (r"layers\.[12]\.",)  # the tiny LLaMA has blocks 0, 1, 2: rescale only in 1 and 2


def _cached_vs_whole(base_dir, adapter, data, forget, tmp_path, **options):
    result = repair(base_dir, adapter, tmp_path / "out", data, forget_text=forget, include=TOP,
                    lambdas=(0.0, 0.5), max_quality_drop=100.0, cache=False, **options)
    assert result.matrices and all(".layers.0." not in sm.name for sm in result.matrices)
    bench = RepairBench(base_dir, adapter, data, forget, RepairOptions(**options).text_settings())
    bench.bind([sm.name for sm in result.matrices])
    assert bench.start == min(int(sm.name.split(".layers.")[1].split(".")[0]) for sm in result.matrices) >= 1
    assert bench.quality_cache is not None and bench.forget_cache is not None
    seen = []
    for lam, point in [(1.0, result.unscaled)] + [(p.lam, p) for p in result.points]:
        bench.set_change({sm.name: None if lam == 1.0 else sm.change(lam) for sm in result.matrices})
        cached = bench.measure()
        start, bench.start = bench.start, 0  # the same weights, every block run
        whole = bench.measure()
        bench.start = start
        assert cached.quality == pytest.approx(whole.quality, abs=1e-5)
        assert cached.forget_loss == pytest.approx(whole.forget_loss, rel=1e-6, abs=1e-6)
        assert cached.forget_loss == pytest.approx(point.forget_loss, rel=1e-6, abs=1e-6)  # what repair recorded
        assert cached.quality == pytest.approx(point.quality, abs=1e-5)
        seen.append(cached)
    return seen


def test_lm_adapter_cached_bottom_equals_the_whole_forward(base_dir, lm_adapter, files, tmp_path):
    seen = _cached_vs_whole(base_dir, lm_adapter, files["val"], files["forget"], tmp_path)
    # the rescaled top changes what is measured: a stale cache or unapplied λ would give one number
    assert len({round(m.quality, 6) for m in seen}) == len(seen)
    assert len({round(m.forget_loss, 6) for m in seen}) == len(seen)


def test_classifier_cached_bottom_equals_the_whole_forward(base_dir, cls_adapter, files, tmp_path):
    seen = _cached_vs_whole(base_dir, cls_adapter, files["cls"], files["forget"], tmp_path, text_column="sentence")
    assert len({round(m.forget_loss, 6) for m in seen}) == len(seen)


def test_a_matrix_in_the_first_block_turns_the_cache_off(base_dir, lm_adapter, files):
    bench = RepairBench(base_dir, lm_adapter, files["val"], files["forget"], RepairOptions().text_settings())
    bench.bind(["model.layers.0.self_attn.q_proj.weight", "model.layers.2.mlp.up_proj.weight"])
    assert bench.start == 0 and bench.quality_cache is None and bench.forget_cache is None
