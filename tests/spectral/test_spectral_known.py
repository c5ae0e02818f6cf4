"""Known answers: the paper's toy intruder, no-intruder perturbations, planted intruders, monotone counts."""

from __future__ import annotations

import pytest
import torch
from spectral_cases import F64, decaying, gen, orthonormal, planted, with_spectrum

from lorascope.spectral import (
    LowRankUpdate,
    analyze_matrix,
    base_spectrum,
    counts_over_k_fraction,
    reference_intruders,
)

EPSILONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _toy(kind: str, n: int = 200, factor: float = 3.0, seed: int = 1):
    """W and the rank-1 update λ v vᵀ, v a random unit vector, λ = factor · σ_max(W) (paper App. A.2)."""
    g = gen(seed)
    if kind == "gauss":
        W = torch.randn(n, n, generator=g, dtype=F64) / n**0.5
    else:
        W = with_spectrum(n, n, decaying(n, 0.9), g)
    v = torch.randn(n, 1, generator=g, dtype=F64)
    v /= v.norm()
    lam = factor * float(torch.linalg.matrix_norm(W, ord=2))
    return W, LowRankUpdate(v * lam, v.T, 1.0)


@pytest.mark.parametrize(("kind", "epsilons"), [("decay", (0.3, 0.5, 0.7, 0.9)), ("gauss", (0.3, 0.5, 0.7))])
@pytest.mark.parametrize("dense", [False, True])
def test_toy_rank_one_update_gives_one_intruder_at_rank_zero(kind, epsilons, dense):
    W, upd = _toy(kind)
    Wt = W + upd.dense()
    for eps in epsilons:
        ref = reference_intruders(W, Wt, 10, eps)
        assert ref.count == 1 and ref.intruder[0], (eps, ref.max_cos)
        got = analyze_matrix(W, Wt if dense else upd, k=10, epsilon=eps)
        assert got.intruders == 1
        assert [t.intruder for t in got.top] == [True] + [False] * 9
        # The intruder is (almost) v itself, and v is far from every base vector.
        assert got.top[0].max_cos == pytest.approx(ref.max_cos[0], abs=1e-9)


def test_toy_with_the_base_given_uses_the_structured_solver():
    W, upd = _toy("decay")
    base = base_spectrum(W)
    for solver, path in (("auto", "lowrank-dense"), ("iterative", "lowrank")):  # dense is cheaper at this size
        got = analyze_matrix(W, upd, k=10, epsilon=0.5, base=base, solver=solver)
        assert got.solver == path
        assert [t.intruder for t in got.top] == [True] + [False] * 9


@pytest.mark.parametrize(("m", "n"), [(150, 150), (120, 200), (200, 120)])
def test_perturbation_inside_the_base_directions_gives_no_intruder(m, n):
    g = gen(7)
    p = min(m, n)
    U0, V0 = orthonormal(m, p, g), orthonormal(n, p, g)
    S0 = decaying(p, 0.93)
    W0 = U0 @ torch.diag(S0) @ V0.T
    delta = 0.01 * S0 * torch.rand(p, generator=g, dtype=F64)  # keeps the order of the singular values
    Wt = W0 + U0 @ torch.diag(delta) @ V0.T
    for eps in (0.5, 0.9):
        ref = reference_intruders(W0, Wt, 10, eps)
        got = analyze_matrix(W0, Wt, k=10, epsilon=eps)
        assert ref.count == 0 and got.intruders == 0
        assert [t.base_index for t in got.top] == list(range(10))
        assert min(t.max_cos for t in got.top) > 1 - 1e-9
    # Same update in factored form: U0 diag(δ) V0ᵀ = (U0 diag(δ)) V0ᵀ.
    got = analyze_matrix(W0, LowRankUpdate(U0 * delta, V0.T, 1.0), k=10, epsilon=0.9)
    assert got.intruders == 0


@pytest.mark.parametrize(("m", "n", "ranks"),
                         [(120, 160, [0, 3, 7]), (160, 120, [2, 5]), (140, 140, [1, 8, 9])])
def test_planted_intruders_are_found_at_exactly_their_ranks(m, n, ranks):
    W0, upd = planted(m, n, ranks, seed=11)
    Wt = W0 + upd.dense()
    base = base_spectrum(W0)
    for eps in (0.4, 0.5, 0.7, 0.9):
        ref = reference_intruders(W0, Wt, 10, eps)
        assert [j for j in range(10) if ref.intruder[j]] == ranks
        for tuned, given in [(upd, None), (upd, base), (Wt, None)]:
            got = analyze_matrix(W0, tuned, k=10, epsilon=eps, base=given)
            assert [t.index for t in got.top if t.intruder] == ranks, got.solver
            assert got.intruders == len(ranks)
            for j in ranks:  # each planted vector is an equal mix of 8 base vectors
                assert got.top[j].max_cos == pytest.approx(8**-0.5, abs=2e-3)
    # Below 1/√8 nothing is an intruder.
    assert analyze_matrix(W0, upd, k=10, epsilon=0.3).intruders == 0


@pytest.mark.parametrize("case", ["toy", "planted", "gauss"])
def test_counts_are_monotone_in_epsilon_and_in_k(case):
    if case == "toy":
        W0, tuned = _toy("gauss", factor=1.5)
    elif case == "planted":
        W0, tuned = planted(130, 150, [0, 2, 4, 9], seed=3)
    else:
        g = gen(5)
        W0 = torch.randn(150, 150, generator=g, dtype=F64) / 150**0.5
        tuned = W0 + 0.5 * torch.randn(150, 150, generator=g, dtype=F64) / 150**0.5
    got = analyze_matrix(W0, tuned, k=20, epsilons=EPSILONS, k_fractions=[0.01, 0.05, 0.1, 0.25, 0.5, 1.0])
    eps_counts = got.epsilon_counts
    assert eps_counts == sorted(eps_counts)
    assert eps_counts[-1] >= 1 and eps_counts[-1] <= 20
    frac_counts = got.k_fraction_counts
    assert frac_counts == sorted(frac_counts)
    # Counting over k directly: intruders among the top k never decrease as k grows.
    flags = [t.intruder for t in got.top]
    per_k = [sum(flags[:k]) for k in range(1, 21)]
    assert per_k == sorted(per_k)
    assert per_k[-1] == got.intruders
    # k-fraction counts use the same strict rule on all tuned vectors.
    mc = torch.tensor([t.max_cos for t in got.top])
    assert counts_over_k_fraction(mc, [0.5, 1.0], 0.5) == [sum(flags[:10]), sum(flags)]
