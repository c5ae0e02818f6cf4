"""The cost model's choice (cost.py): which path runs for which shape, that auto follows it, and that a Krylov
run out of budget hands over to the dense path; every choice must give the float64 reference's answer."""

from __future__ import annotations

import pytest
import torch
from spectral_cases import F64, clustered, gen, low_rank, merged, orthonormal, with_spectrum

import lorascope.spectral.topk as topk
from lorascope.spectral import base_spectrum, reference_intruders, top_singular
from lorascope.spectral.cost import Plan, krylov_cost, plan_dense_matrix, plan_projected


@pytest.mark.parametrize(("m", "n", "path"), [
    (576, 576, "dense"), (576, 1536, "dense"), (1536, 576, "dense"), (192, 576, "dense"),  # SmolLM2-135M
    (2048, 5504, "iterative"), (4096, 4096, "iterative"), (11008, 4096, "iterative"), (4096, 11008, "iterative"),
])
def test_dense_checkpoint_path_by_shape(m, n, path):
    assert plan_dense_matrix(m, n, 20).path == path


@pytest.mark.parametrize(("dim", "rank", "path"), [
    (192, 8, "dense"), (576, 8, "dense"), (584, 8, "dense"),  # SmolLM2's projected problems (p + q)
    (2048, 16, "iterative"), (4096, 16, "iterative"), (4112, 16, "iterative"),
])
def test_projected_adapter_path_by_size(dim, rank, path):
    assert plan_projected(dim, rank, 12).path == path


def test_the_krylov_budget_is_the_dense_cost():
    """A budgeted Krylov run stops where its estimated cost would pass the dense path's."""
    for m, n in [(2048, 5504), (4096, 4096), (11008, 4096)]:
        plan = plan_dense_matrix(m, n, 20)
        p, steps = min(m, n), plan.max_basis // 20
        apply = 4.0 * m * n * 20
        assert plan.path == "iterative" and steps >= 3
        assert krylov_cost(p, 20, apply, steps) <= plan.dense_cost
        if plan.max_basis + 20 <= max(24 * 20, 240):  # not capped by the basis limit: one more step is too many
            assert krylov_cost(p, 20, apply, steps + 1) > plan.dense_cost


def _slow_spectrum_case(m: int = 160, n: int = 220):
    """A flat-topped spectrum (relative gaps ~1e-3 among the top 20, as SmolLM2's matrices have): slow Krylov."""
    g = gen(81)
    p = min(m, n)
    s = torch.cat([1.0 - 1e-3 * torch.arange(24, dtype=F64), 0.5 * 0.99 ** torch.arange(p - 24, dtype=F64)])
    W0 = with_spectrum(m, n, s, g)
    return W0, W0 + 0.01 * torch.randn(m, n, generator=g, dtype=F64) / n**0.5


@pytest.mark.parametrize("forced", ["dense", "iterative"])
def test_auto_follows_the_plan(monkeypatch, forced):
    W0, Wt = _slow_spectrum_case()
    upd = low_rank(*W0.shape, 3, 1.0, gen(82), dtype=F64)
    base = base_spectrum(W0)
    big = 10**9  # room enough that a forced Krylov run is never cut short
    monkeypatch.setattr(topk, "plan_dense_matrix", lambda *a, **kw: Plan(forced, 1.0, 1.0, big))
    monkeypatch.setattr(topk, "plan_projected", lambda *a, **kw: Plan(forced, 1.0, 1.0, big))
    for tuned, general in ((Wt, True), (upd, False)):
        got = top_singular(W0, tuned, 10, base=base)
        label = ("dense" if general else "lowrank-dense") if forced == "dense" else ("krylov" if general else "lowrank")
        assert got.solver == label and got.error_bound < 1e-4
        ref = reference_intruders(W0, merged(W0, tuned), 10, 0.5)
        assert torch.allclose((got.U * ref.U_tuned).sum(0).abs(), torch.ones(10, dtype=F64), atol=1e-6)


def test_krylov_out_of_budget_hands_over_to_dense_and_matches_the_reference(monkeypatch):
    W0, Wt = _slow_spectrum_case()
    upd = low_rank(*W0.shape, 3, 1.0, gen(83), dtype=F64)
    base = base_spectrum(W0)
    seen = []
    real = topk.top_eigenpairs

    def spy(*args, **kwargs):
        seen.append(real(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(topk, "top_eigenpairs", spy)
    # One block of basis: far too little for this spectrum, so Krylov must stop early and hand over.
    monkeypatch.setattr(topk, "plan_dense_matrix", lambda m, n, block, rank=0: Plan("iterative", 1.0, 1.0, block))
    monkeypatch.setattr(topk, "plan_projected", lambda d, r, block: Plan("iterative", 1.0, 1.0, block))
    for tuned, label in ((Wt, "dense"), (upd, "lowrank-dense")):
        seen.clear()
        got = top_singular(W0, tuned, 10, base=base)
        assert got.solver == label
        assert seen and all(e.basis_size <= 20 and e.bound > 1e-4 for e in seen)  # cut short, not converged
        ref = reference_intruders(W0, merged(W0, tuned), 10, 0.5)
        assert torch.allclose((got.U * ref.U_tuned).sum(0).abs(), torch.ones(10, dtype=F64), atol=1e-6)
        assert torch.allclose(got.S, torch.tensor(ref.sigma, dtype=F64), rtol=1e-10)


@pytest.mark.parametrize(("m", "n"), [(150, 210), (210, 150)])
def test_dense_paths_resolve_a_close_cluster_like_the_reference(m, n):
    g = gen(84)
    p = min(m, n)
    W0 = orthonormal(m, p, g) @ torch.diag(clustered(p, 1e-7, ratio=0.93, every=2)) @ orthonormal(n, p, g).T
    upd = low_rank(m, n, 2, 0.02, g, dtype=F64)
    base = base_spectrum(W0)
    ref = reference_intruders(W0, merged(W0, upd), 10, 0.5)
    for tuned in (upd, merged(W0, upd)):
        got = top_singular(W0, tuned, 10, base=base, solver="dense")
        assert got.solver in ("dense", "lowrank-dense") and got.error_bound < 1e-4
        assert torch.allclose((got.U * ref.U_tuned).sum(0).abs(), torch.ones(10, dtype=F64), atol=1e-6)
