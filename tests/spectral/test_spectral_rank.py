"""rank.py: the factored spectrum of ΔW, effective/stable/energy ranks, and the ΔW = 0 conventions."""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest
import torch
from spectral_cases import F64, gen

from lorascope.errors import InputError
from lorascope.spectral import (
    DeltaStats,
    LowRankUpdate,
    delta_stats,
    effective_rank,
    energy_rank,
    stable_rank,
    update_singular_values,
)


@pytest.mark.parametrize(("m", "n", "r", "scale"), [(80, 120, 1, 2.0), (120, 80, 4, -0.5), (64, 64, 16, 1.0),
                                                     (30, 50, 40, 0.1), (50, 30, 64, 3.0)])
def test_factored_spectrum_equals_dense_svd(m, n, r, scale):
    g = gen(m + n + r)
    upd = LowRankUpdate(torch.randn(m, r, generator=g).float(), torch.randn(r, n, generator=g).float(), scale)
    factored = update_singular_values(upd)
    dense = torch.linalg.svdvals(upd.dense(F64))
    q = min(r, m, n)
    assert factored.shape == (q,)
    assert torch.allclose(factored, dense[:q], rtol=1e-10)
    assert all(float(x) < 1e-10 * float(dense[0]) for x in dense[q:])
    assert asdict(delta_stats(upd)) == pytest.approx(asdict(delta_stats(upd.dense(F64))), rel=1e-9)


@pytest.mark.parametrize("shape", [(40, 70), (70, 40), (300, 300), (520, 700), (700, 520), "transposed"])
def test_dense_spectrum_matches_the_float64_svd(shape):
    """The Gram path (plain product below 512, BLAS syrk of either side above): the float64 SVD's values."""
    g = gen(2)
    if shape == "transposed":  # a non-contiguous view takes the plain product
        shape = (560, 600)
        D = torch.randn(shape[1], shape[0], generator=g, dtype=torch.float32).to(F64).T
    else:
        D = torch.randn(*shape, generator=g, dtype=torch.float32).to(F64)
    D = D * torch.logspace(0, -4, shape[1], dtype=F64)  # columns scaled: σ spans about four decades
    fast, exact = update_singular_values(D), torch.linalg.svdvals(D)
    assert torch.allclose(fast, exact, rtol=1e-8, atol=1e-7 * float(exact[0]))
    assert asdict(delta_stats(D)) == pytest.approx(asdict(_stats_of(exact)), rel=1e-6)


@pytest.mark.parametrize("shape", [(200, 150), (600, 530), (530, 600)])
def test_dense_low_rank_update_has_exactly_its_rank(shape):
    """Below the Gram floor values are zero: a densely stored rank-3 update reads as rank 3, as factored."""
    g = gen(5)
    m, n = shape
    upd = LowRankUpdate(torch.randn(m, 3, generator=g, dtype=F64), torch.randn(3, n, generator=g, dtype=F64), 0.7)
    dense = update_singular_values(upd.dense(F64))
    assert int((dense > 0).sum()) == 3
    assert torch.allclose(dense[:3], update_singular_values(upd), rtol=1e-10)


def _stats_of(s: torch.Tensor) -> DeltaStats:
    return DeltaStats(effective_rank=effective_rank(s), stable_rank=stable_rank(s), energy_rank_90=energy_rank(s, 0.9),
                      energy_rank_99=energy_rank(s, 0.99), fro_norm=float(torch.linalg.vector_norm(s)),
                      spectral_norm=float(s.max()))


def test_effective_rank_known_values():
    assert effective_rank(torch.ones(37, dtype=F64)) == pytest.approx(37.0, rel=1e-12)
    assert effective_rank(torch.linalg.svdvals(torch.eye(25, dtype=F64))) == pytest.approx(25.0, rel=1e-12)
    rank_one = torch.outer(torch.arange(1.0, 31.0, dtype=F64), torch.linspace(-1, 2, 20, dtype=F64))
    assert effective_rank(torch.linalg.svdvals(rank_one)) == pytest.approx(1.0, abs=1e-12)
    # σ = (3, 1): p = (3/4, 1/4), H = −(¾ ln ¾ + ¼ ln ¼).
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert effective_rank(torch.tensor([3.0, 1.0, 0.0])) == pytest.approx(math.exp(h), rel=1e-12)


def test_stable_rank_known_values():
    assert stable_rank(torch.tensor([2.0, 1.0, 1.0])) == pytest.approx(1.5)
    assert stable_rank(torch.ones(9)) == pytest.approx(9.0)
    assert stable_rank(torch.tensor([5.0])) == pytest.approx(1.0)


def test_energy_rank_hand_checked():
    s = torch.tensor([3.0, 2.0, 1.0])  # energies 9, 4, 1 of 14: 9/14 = 64 %, 13/14 = 92.9 %, 100 %
    assert energy_rank(s, 0.5) == 1
    assert energy_rank(s, 0.9) == 2
    assert energy_rank(s, 0.99) == 3
    assert energy_rank(s, 1.0) == 3
    assert energy_rank(torch.tensor([1.0, 2.0, 3.0]), 0.9) == 2  # order of the input does not matter
    # Ten equal values: exactly 90 % after nine, despite 0.9 · 10 rounding to 9.000000000000002.
    assert energy_rank(torch.ones(10, dtype=F64), 0.9) == 9
    assert energy_rank(torch.ones(100, dtype=F64), 0.99) == 99
    with pytest.raises(InputError):
        energy_rank(s, 0.0)


def test_zero_update_has_well_defined_measures():
    zero = DeltaStats(effective_rank=0.0, stable_rank=0.0, energy_rank_90=0, energy_rank_99=0, fro_norm=0.0,
                      spectral_norm=0.0)
    assert delta_stats(torch.zeros(30, 20)) == zero
    assert delta_stats(LowRankUpdate(torch.zeros(30, 4), torch.randn(4, 20), 2.0)) == zero
    assert delta_stats(LowRankUpdate(torch.randn(30, 4), torch.randn(4, 20), 0.0)) == zero
    assert effective_rank(torch.zeros(5)) == 0.0 and stable_rank(torch.zeros(5)) == 0.0
    assert energy_rank(torch.zeros(5), 0.9) == 0


def test_delta_stats_of_a_rank_one_update():
    g = gen(3)
    u, v = torch.randn(50, 1, generator=g, dtype=F64), torch.randn(1, 70, generator=g, dtype=F64)
    stats = delta_stats(LowRankUpdate(u, v, -2.0))
    norm = 2.0 * float(u.norm() * v.norm())
    assert stats.effective_rank == pytest.approx(1.0) and stats.stable_rank == pytest.approx(1.0)
    assert (stats.energy_rank_90, stats.energy_rank_99) == (1, 1)
    assert stats.fro_norm == pytest.approx(norm) and stats.spectral_norm == pytest.approx(norm)
    assert isinstance(stats.energy_rank_90, int) and isinstance(stats.fro_norm, float)


def test_bad_updates_are_input_errors():
    with pytest.raises(InputError):
        update_singular_values(torch.tensor([[1.0, float("inf")]]))
    with pytest.raises(InputError):
        update_singular_values(LowRankUpdate(torch.ones(3, 1), torch.ones(1, 3), float("nan")))
