"""Every fast path against the float64 reference (Algorithm 1 on two full SVDs)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
import torch
from spectral_cases import F64, Case, clustered, decaying, gen, low_rank, merged, orthonormal, random_cases

from lorascope.spectral import (
    BaseSpectrum,
    LowRankUpdate,
    TopVector,
    analyze_matrix,
    base_spectrum,
    counts_over_epsilon,
    max_cos,
    reference_intruders,
    top_singular,
)

EPSILONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
CASES = random_cases()


def _assert_matches_reference(case: Case, got, ref, what: str) -> None:
    assert [t.intruder for t in got.top] == ref.intruder, what
    assert got.intruders == ref.count, what
    mc = [t.max_cos for t in got.top]
    assert max(abs(a - b) for a, b in zip(mc, ref.max_cos, strict=True)) < 1e-3, what
    assert got.epsilon_counts == [sum(c < e for c in ref.max_cos) for e in EPSILONS], what
    # base_index must agree wherever the reference's best base vector beats the runner-up clearly.
    cos = (ref.U_tuned.T @ ref.U_base).abs()
    top2 = cos.topk(2, dim=1).values
    for j in range(case.k):
        if float(top2[j, 0] - top2[j, 1]) > 1e-3:
            assert got.top[j].base_index == ref.base_index[j], (what, j)
    sig = torch.tensor([t.sigma for t in got.top], dtype=F64)
    assert torch.allclose(sig, torch.tensor(ref.sigma, dtype=F64), rtol=1e-9, atol=1e-12 * ref.sigma[0]), what


@dataclass(frozen=True)
class _Verdicts:
    """The parts of a MatrixAnalysis the comparison reads, rebuilt from a bare top_singular result."""

    top: list[TopVector]
    intruders: int
    epsilon_counts: list[int]


def _verdicts(found, U_base: torch.Tensor) -> _Verdicts:
    cos, where = max_cos(found.U, U_base)
    top = [TopVector(j, float(found.S[j]), float(cos[j]), int(where[j]), bool(cos[j] < 0.5))
           for j in range(found.U.shape[1])]
    return _Verdicts(top, sum(t.intruder for t in top), counts_over_epsilon(cos, EPSILONS))


# Which path each forced solver must take on a resolvable case: (LowRankUpdate with a base, dense W_tuned).
PATHS = {"dense": ("lowrank-dense", "dense"), "iterative": ("lowrank", "krylov")}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fast_paths_match_reference(case: Case):
    Wt = merged(case.W0, case.tuned)
    ref = reference_intruders(case.W0, Wt, case.k, 0.5)
    factored = isinstance(case.tuned, LowRankUpdate)
    # The pipeline's entry point (gram base, then the structured path for a LowRankUpdate, the general one for a
    # dense W_tuned), with the cost model's choice and with each kind of path forced.
    base = base_spectrum(case.W0)
    for solver in ("auto", "dense", "iterative"):
        got = analyze_matrix(case.W0, case.tuned, k=case.k, epsilon=0.5, epsilons=EPSILONS, solver=solver, base=base)
        _assert_matches_reference(case, got, ref, (solver, got.solver))
        # These cases are all resolvable: the fast solvers themselves must have produced the answer.
        if solver == "auto":
            assert got.solver in (PATHS["dense"][0 if factored else 1], PATHS["iterative"][0 if factored else 1])
        else:
            assert got.solver == PATHS[solver][0 if factored else 1]
    # Without a base spectrum: the general path on W0 x + s·B(A x), compared on the reference basis.
    if factored:
        for solver in ("dense", "iterative"):
            found = top_singular(case.W0, case.tuned, case.k, solver=solver)
            assert found.solver == PATHS[solver][1]
            _assert_matches_reference(case, _verdicts(found, ref.U_base), ref, found.solver)


@pytest.mark.parametrize(("m", "n"), [(90, 140), (140, 90)])
def test_top_vectors_match_the_reference_up_to_sign(m, n):
    g = gen(21)
    W0 = with_gap_spectrum(m, n, g)
    upd = low_rank(m, n, 3, 0.7, g, dtype=F64)
    Wt = merged(W0, upd)
    U, S, _ = torch.linalg.svd(Wt)
    for base, tuned, solver in itertools.product((None, base_spectrum(W0)), (upd, Wt), ("dense", "iterative")):
        got = top_singular(W0, tuned, 10, base=base, solver=solver)
        assert got.U.shape == (m, 10) and got.S.shape == (10,)
        # Krylov stops once every bound is below 1e-7 (krylov._TARGET): far inside the 1e-4 guard.
        assert got.error_bound < 1e-4 and got.max_residual < 1e-8
        assert got.gap == pytest.approx(float((S[9] - S[10]) / S[0]), rel=1e-8)
        signs = torch.sign((got.U * U[:, :10]).sum(0))
        assert torch.allclose(got.U * signs, U[:, :10], atol=1e-6)
        assert torch.allclose(got.S, S[:10], rtol=1e-10)


def with_gap_spectrum(m: int, n: int, g: torch.Generator) -> torch.Tensor:
    from spectral_cases import with_spectrum

    return with_spectrum(m, n, decaying(min(m, n), 0.92), g)


def _degenerate(m: int, n: int, at: list[int], g: torch.Generator, rel: float = 0.0) -> torch.Tensor:
    """Decaying spectrum with s[i+1] = s[i]·(1 − rel) for each i in `at`."""
    s = decaying(min(m, n), 0.9)
    for i in at:
        s[i + 1] = s[i] * (1 - rel)
    p = min(m, n)
    return orthonormal(m, p, g) @ torch.diag(s) @ orthonormal(n, p, g).T


@pytest.mark.parametrize(("m", "n"), [(100, 150), (150, 100)])
@pytest.mark.parametrize(("at", "rel"), [([9], 0.0), ([3], 0.0), ([4], 1e-13)])
def test_guard_falls_back_to_exact_svd_when_vectors_cannot_be_trusted(m, n, at, rel):
    """σ_k = σ_{k+1}, a repeated pair inside the top k, or a gap of 1e-13: the guard must refuse."""
    g = gen(31)
    Wt = _degenerate(m, n, at, g, rel)
    W0 = Wt + 0.3 * torch.randn(m, n, generator=g, dtype=F64) / n**0.5
    got = top_singular(W0, Wt, 10)
    assert got.solver == "exact-fallback"
    ref = reference_intruders(W0, Wt, 10, 0.5)
    res = analyze_matrix(W0, Wt, k=10, epsilon=0.5)
    assert res.solver == "exact-fallback"
    assert [t.intruder for t in res.top] == ref.intruder
    assert [t.max_cos for t in res.top] == pytest.approx(ref.max_cos, abs=1e-12)


def test_guard_falls_back_on_the_structured_path():
    """W0 has a repeated top pair that the low-rank update leaves alone: the lowrank path must refuse too."""
    m, n = 120, 160
    g = gen(41)
    p = min(m, n)
    U, V = orthonormal(m, p, g), orthonormal(n, p, g)
    s = decaying(p, 0.9)
    s[2] = s[1]
    W0 = U @ torch.diag(s) @ V.T
    # Update in directions 20..23 only: the repeated pair at ranks 1, 2 stays exactly repeated.
    upd = LowRankUpdate(U[:, 20:24] * 0.5, V[:, 20:24].T, 1.0)
    base = base_spectrum(W0)
    got = top_singular(W0, upd, 10, base=base)
    assert got.solver == "exact-fallback"
    ref = reference_intruders(W0, merged(W0, upd), 10, 0.5)
    res = analyze_matrix(W0, upd, k=10, base=base)
    assert [t.intruder for t in res.top] == ref.intruder


@pytest.mark.parametrize("solver", ["dense", "iterative"])
def test_resolvable_clusters_do_not_trigger_the_fallback(solver):
    g = gen(51)
    m, n = 150, 110
    Wt = orthonormal(m, n, g) @ torch.diag(clustered(n, 1e-6, ratio=0.9, every=2)) @ orthonormal(n, n, g).T
    W0 = Wt + 0.2 * torch.randn(m, n, generator=g, dtype=F64) / n**0.5
    got = top_singular(W0, Wt, 10, solver=solver)
    assert got.solver == PATHS[solver][1] and got.error_bound < 1e-4
    U = torch.linalg.svd(Wt)[0][:, :10]
    assert torch.allclose((got.U * U).sum(0).abs(), torch.ones(10, dtype=F64), atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_low_precision_inputs_match_the_reference_on_the_same_values(dtype):
    g = gen(61)
    m, n = 96, 128
    W0 = (torch.randn(m, n, generator=g) / n**0.5).to(dtype)
    B = torch.randn(m, 2, generator=g).to(dtype)
    A = (torch.randn(2, n, generator=g) / n**0.5).to(dtype)
    upd = LowRankUpdate(B, A, 2.0)
    ref = reference_intruders(W0, merged(W0, upd), 10, 0.5)
    for base in (None, base_spectrum(W0)):
        got = analyze_matrix(W0, upd, k=10, base=base)
        assert [t.intruder for t in got.top] == ref.intruder
        assert [t.max_cos for t in got.top] == pytest.approx(ref.max_cos, abs=1e-6)


def test_solver_exact_is_the_reference():
    g = gen(71)
    W0 = torch.randn(80, 120, generator=g, dtype=F64)
    upd = low_rank(80, 120, 4, 3.0, g)
    got = analyze_matrix(W0, upd, k=10, solver="exact")
    ref = reference_intruders(W0, merged(W0, upd), 10, 0.5)
    assert got.solver == "exact"
    assert [t.max_cos for t in got.top] == pytest.approx(ref.max_cos, abs=1e-12)
    assert [t.base_index for t in got.top] == ref.base_index


@pytest.mark.parametrize("index", [0, 5, 10, 40])
def test_a_float32_stored_base_is_polished_not_abandoned(index):
    """A cached float32 base is not an exact SVD of W0; the structured result is polished on the real W_t."""
    case = [c for c in CASES if isinstance(c.tuned, LowRankUpdate)][index]
    full = base_spectrum(case.W0)
    stored = BaseSpectrum(U=full.U.to(torch.float32), S=full.S.to(torch.float32), method=full.method)
    found = top_singular(case.W0, case.tuned, case.k, base=stored)
    assert found.solver in ("lowrank", "lowrank-dense", "krylov", "dense") and found.error_bound < 1e-4
    ref = reference_intruders(case.W0, merged(case.W0, case.tuned), case.k, 0.5)
    _assert_matches_reference(case, _verdicts(found, ref.U_base), ref, found.solver)


@pytest.mark.parametrize("outside", [1.0, 1e-5, 1e-8, 0.0])
def test_tall_update_nearly_inside_the_base_column_space(outside):
    """Tall W0: B's part outside span(U0) large, tiny (the extra re-orthogonalisation) or absent."""
    g = gen(31)
    m, n, r = 240, 100, 3
    W0 = orthonormal(m, n, g) @ torch.diag(decaying(n, 0.9)) @ orthonormal(n, n, g).T
    U0 = torch.linalg.svd(W0, full_matrices=False)[0]
    inside = U0 @ torch.randn(n, r, generator=g, dtype=F64)
    away = torch.randn(m, r, generator=g, dtype=F64)
    away = away - U0 @ (U0.T @ away)
    B = inside + outside * away * 4.0  # strong enough to make intruders when it points outside
    A = torch.randn(r, n, generator=g, dtype=F64)
    case = Case(f"tall-outside{outside:g}", W0, LowRankUpdate(B, A, 1.0))
    ref = reference_intruders(W0, merged(W0, case.tuned), case.k, 0.5)
    for solver in ("dense", "iterative"):
        got = analyze_matrix(W0, case.tuned, k=case.k, epsilon=0.5, epsilons=EPSILONS, solver=solver)
        assert got.solver == PATHS[solver][0]
        _assert_matches_reference(case, got, ref, got.solver)


@pytest.mark.parametrize("stored", [torch.float64, torch.float32])
def test_lowrank_coordinates_are_the_cosines_with_the_base(stored):
    """The structured path reports U's coordinates in U0; they must equal U0ᵀU computed the slow way."""
    worst = 0.0
    for case in CASES:
        if not isinstance(case.tuned, LowRankUpdate):
            continue
        full = base_spectrum(case.W0)
        base = BaseSpectrum(U=full.U.to(stored), S=full.S, method=full.method)
        found = top_singular(case.W0, case.tuned, case.k, base=base)
        if not found.solver.startswith("lowrank"):
            assert found.in_base is None, case.name  # other paths have no coordinates to give
            continue
        explicit = base.U.to(F64).T @ found.U
        assert found.in_base.shape == explicit.shape, case.name
        worst = max(worst, float((found.in_base - explicit).abs().max()))
        got = analyze_matrix(case.W0, case.tuned, k=case.k, base=base)
        cos, where = max_cos(found.U, base.U.to(F64))
        assert [t.max_cos for t in got.top] == pytest.approx(cos.tolist(), abs=1e-11 if stored == F64 else 1e-6)
        top2 = explicit.abs().topk(2, dim=0).values
        for j, t in enumerate(got.top):  # the same best base vector wherever it is clearly the best
            if float(top2[0, j] - top2[1, j]) > 1e-6:
                assert t.base_index == int(where[j]), (case.name, j)
    # float64 base: exact to rounding; float32-stored: within how far the stored U0 is from orthonormal
    assert worst < (1e-11 if stored == F64 else 1e-6), worst


def test_tall_complement_kept_implicit_matches_the_explicit_one(monkeypatch):
    """Tall W0, B well outside span(U0): the r × r Gram route gives what forming B − U0 Yb gives."""
    import lorascope.spectral.topk as topk

    g = gen(32)
    m, n, r = 300, 120, 4
    W0 = orthonormal(m, n, g) @ torch.diag(decaying(n, 0.9)) @ orthonormal(n, n, g).T
    B = 3.0 * torch.randn(m, r, generator=g, dtype=F64) * torch.tensor([1.0, 0.5, 0.2, 0.1], dtype=F64)
    A = torch.randn(r, n, generator=g, dtype=F64)
    tuned = LowRankUpdate(B, A, 1.0)
    full = base_spectrum(W0)
    real, taken = topk._implicit_complement, []

    def spy(B, Yb):
        taken.append(real(B, Yb))
        return taken[-1]

    for stored in (F64, torch.float32):
        base = BaseSpectrum(U=full.U.to(stored), S=full.S, method=full.method)
        taken.clear()
        monkeypatch.setattr(topk, "_implicit_complement", spy)
        implicit = top_singular(W0, tuned, 10, base=base)
        monkeypatch.setattr(topk, "_implicit_complement", lambda B, Yb: None)
        explicit = top_singular(W0, tuned, 10, base=base)
        assert taken and taken[0] is not None and implicit.solver == explicit.solver
        assert implicit.solver in ("lowrank", "lowrank-dense")
        assert torch.allclose(implicit.S, explicit.S, rtol=1e-12)
        signs = torch.sign((implicit.U * explicit.U).sum(dim=0))
        assert torch.allclose(implicit.U, explicit.U * signs, atol=1e-9)
        assert torch.allclose(implicit.in_base, explicit.in_base * signs, atol=1e-9)
        monkeypatch.setattr(topk, "_implicit_complement", real)
        ref = reference_intruders(W0, merged(W0, tuned), 10, 0.5)
        got = analyze_matrix(W0, tuned, k=10, base=base, epsilons=EPSILONS)
        _assert_matches_reference(Case("tall-implicit", W0, tuned), got, ref, got.solver)
