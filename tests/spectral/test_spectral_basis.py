"""base_spectrum: the gram method against a float64 SVD, its fallbacks, and the storage precision of U."""

from __future__ import annotations

import pytest
import torch
from spectral_cases import (
    F64,
    clustered,
    decaying,
    gen,
    merged,
    orthonormal,
    planted,
    random_cases,
    with_spectrum,
)

from lorascope.errors import InputError
from lorascope.spectral import analyze_matrix, base_spectrum, max_cos, reference_intruders


def _spectra(p: int) -> dict[str, torch.Tensor]:
    rank_deficient = decaying(p)
    rank_deficient[int(0.85 * p):] = 0
    tail = decaying(p)
    tail[int(0.8 * p):] = 1e-9 * (1 + torch.linspace(0, 1, p - int(0.8 * p), dtype=F64))
    return {
        "decay": decaying(p),
        "cluster1e-3": clustered(p, 1e-3),
        "cluster1e-4": clustered(p, 1e-4),
        "cluster1e-5": clustered(p, 1e-5),
        "cluster1e-6": clustered(p, 1e-6),
        "tail1e-9": tail,
        "rank-deficient": rank_deficient,
    }


SHAPES = [(120, 200), (200, 120), (160, 160)]
MATRICES = [(f"{name}-{m}x{n}", m, n, name) for m, n in SHAPES for name in _spectra(min(m, n))]
SEEDS = {x[0]: 200 + i for i, x in enumerate(MATRICES)}


def _clusters(S: torch.Tensor, rel: float) -> list[tuple[int, int]]:
    """[start, stop) runs whose neighbouring values are closer than rel·σ₁."""
    runs, start = [], 0
    for i in range(1, S.numel() + 1):
        if i == S.numel() or float(S[i - 1] - S[i]) >= rel * float(S[0]):
            runs.append((start, i))
            start = i
    return runs


@pytest.mark.parametrize(("name", "m", "n", "spectrum"), MATRICES, ids=[x[0] for x in MATRICES])
def test_gram_agrees_with_svd(name, m, n, spectrum):
    g = gen(SEEDS[name])
    W = with_spectrum(m, n, _spectra(min(m, n))[spectrum], g)
    fast, exact = base_spectrum(W, "gram"), base_spectrum(W, "svd")
    assert fast.method == "gram" and exact.method == "svd"
    assert fast.U.dtype == F64 and fast.U.shape == (m, min(m, n)) and fast.S.shape == (min(m, n),)
    S1 = float(exact.S[0])
    assert torch.all(fast.S[:-1] >= fast.S[1:])
    assert torch.allclose(fast.S, exact.S, rtol=1e-6, atol=1e-13 * S1)
    eye = torch.eye(min(m, n), dtype=F64)
    assert torch.allclose(fast.U.T @ fast.U, eye, atol=1e-9)
    for a, b in _clusters(exact.S, 1e-4):
        if float(exact.S[a]) < 1e-12 * S1:
            # Zero singular values: left vectors are arbitrary beyond being orthogonal to W0's range.
            assert float(torch.linalg.matrix_norm(W.T @ fast.U[:, a:b], ord=2)) < 1e-12 * S1
            continue
        if b - a == 1:  # an isolated value: the column itself, up to sign
            assert abs(float(fast.U[:, a] @ exact.U[:, a])) > 1 - 1e-9, (name, a)
        else:  # a near-degenerate cluster: only its subspace is defined
            Pf = fast.U[:, a:b] @ fast.U[:, a:b].T
            Pe = exact.U[:, a:b] @ exact.U[:, a:b].T
            assert float(torch.linalg.matrix_norm(Pf - Pe, ord=2)) < 1e-5, (name, a, b)


def test_auto_is_gram_and_degenerate_matrices_fall_back_to_svd():
    g = gen(3)
    W = torch.randn(90, 130, generator=g, dtype=F64)
    assert base_spectrum(W).method == "gram"
    Q = orthonormal(100, 100, g)  # every singular value is 1: nothing for a Gram matrix to separate
    found = base_spectrum(Q, "gram")
    assert found.method == "svd"
    assert torch.allclose(found.S, torch.ones(100, dtype=F64))
    zero = base_spectrum(torch.zeros(40, 60))
    assert zero.method == "svd" and float(zero.S.abs().max()) == 0.0
    assert torch.allclose(zero.U.T @ zero.U, torch.eye(40, dtype=F64))


def test_low_precision_input_is_upcast():
    g = gen(4)
    W = (torch.randn(64, 96, generator=g) / 10).to(torch.bfloat16)
    fast, exact = base_spectrum(W), base_spectrum(W.to(F64), "svd")
    assert fast.S.dtype == F64
    assert torch.allclose(fast.S, exact.S, rtol=1e-9)


@pytest.mark.parametrize("bad", [torch.zeros(3, 4, 5), torch.zeros(0, 4), torch.tensor([[1.0, float("nan")]]),
                                 torch.ones(3, 3, dtype=torch.int64)])
def test_bad_input_is_an_input_error(bad):
    with pytest.raises(InputError):
        base_spectrum(bad)
    with pytest.raises(InputError):
        base_spectrum(torch.ones(3, 3), method="qr")  # type: ignore[arg-type]


def _storage_cases():
    cases = [(c.W0, c.tuned) for c in random_cases()[::3]]
    for ranks, seed in (([0, 3, 7], 1), ([2, 5], 2)):
        cases.append(planted(120, 150, ranks, seed))
    return cases


def test_float32_storage_of_U_changes_no_intruder_decision():
    """Recommended cache precision: float32 U keeps every max |cos| within 1e-6 of the float64 reference."""
    worst = 0.0
    for W0, tuned in _storage_cases():
        ref = reference_intruders(W0, merged(W0, tuned), 10, 0.5)
        base = base_spectrum(W0)
        stored = type(base)(U=base.U.to(torch.float32), S=base.S.to(torch.float32), method=base.method)
        got = analyze_matrix(W0, tuned, k=10, epsilon=0.5, base=stored)
        assert [t.intruder for t in got.top] == ref.intruder
        worst = max(worst, max(abs(t.max_cos - c) for t, c in zip(got.top, ref.max_cos, strict=True)))
    assert worst < 1e-6


def test_float16_storage_can_flip_decisions_near_epsilon():
    """Why not float16: its 5e-4 rounding moves cosines by ~1e-5 (more for localised vectors).

    That flips verdicts whose max |cos| lies that close to ε; float32 moves them by ~1e-8.
    """
    g = gen(9)
    m = 256
    U0 = orthonormal(m, m, g)
    ys, targets = [], []
    for j in range(40):
        c = 0.5 + (5e-6 if j % 2 else -5e-6)  # alternately just above and just below ε = 0.5
        i = j * 5
        w = torch.randn(m, generator=g, dtype=F64)
        w -= (U0[:, i] @ w) * U0[:, i]
        w /= w.norm()
        ys.append(c * U0[:, i] + (1 - c * c) ** 0.5 * w)
        targets.append(c)
    Y = torch.stack(ys, dim=1)
    truth, _ = max_cos(Y, U0)
    assert torch.allclose(truth, torch.tensor(targets, dtype=F64), atol=1e-12)  # each max is the planted one
    verdict = truth < 0.5
    mc32, _ = max_cos(Y, U0.to(torch.float32))
    mc16, _ = max_cos(Y, U0.to(torch.float16))
    assert float((mc32 - truth).abs().max()) < 1e-6
    assert torch.equal(mc32 < 0.5, verdict)
    assert float((mc16 - truth).abs().max()) > 5e-6
    assert not torch.equal(mc16 < 0.5, verdict)


def _spikes_over_a_bulk(p: int) -> torch.Tensor:
    """Decaying spikes with three near-degenerate pairs (which the gram method must repair) over a flat bulk."""
    spikes = torch.linspace(10, 2, 20, dtype=F64)
    for i, rel in ((5, 1e-9), (9, 5e-10), (13, 1e-10)):
        spikes[i] = spikes[i - 1] * (1 - rel)
    return torch.cat([spikes, torch.linspace(1.5, 0.5, p - 20, dtype=F64)])


@pytest.mark.parametrize(("m", "n"), [(1100, 1030), (1030, 1100)])
def test_gram_through_blas_syrk_and_scipy_eigh_agrees_with_svd(m, n, monkeypatch):
    """From 1024 on the CPU route runs (syrk's lower triangle, scipy's syevd in place), and all repairs share one
    pass over W."""
    from scipy.linalg import blas

    import lorascope.spectral.basis as basis

    calls, runs = [], []
    real_syrk, real_runs = blas.dsyrk, basis._runs
    monkeypatch.setattr(blas, "dsyrk", lambda *a, **k: calls.append(k) or real_syrk(*a, **k))
    monkeypatch.setattr(basis, "_runs", lambda mask: runs.extend(real_runs(mask)) or real_runs(mask))
    W = with_spectrum(m, n, _spikes_over_a_bulk(min(m, n)), gen(77))
    fast, exact = base_spectrum(W, "gram"), base_spectrum(W, "svd")
    assert calls and calls[0]["lower"] == 1 and fast.method == "gram"
    assert len(runs) >= 3  # the three pairs at least were re-solved
    assert torch.allclose(fast.S, exact.S, rtol=1e-6, atol=1e-13 * float(exact.S[0]))
    assert torch.allclose(fast.U.T @ fast.U, torch.eye(min(m, n), dtype=F64), atol=1e-9)
    for a, b in _clusters(exact.S, 1e-4):  # columns where defined, subspaces inside clusters
        Pf, Pe = fast.U[:, a:b] @ fast.U[:, a:b].T, exact.U[:, a:b] @ exact.U[:, a:b].T
        assert float(torch.linalg.matrix_norm(Pf - Pe, ord=2)) < 1e-5, (a, b)
