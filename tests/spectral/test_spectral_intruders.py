"""intruders.py: max |cos| over all base vectors, the strict threshold, sweeps and the similarity map."""

from __future__ import annotations

import pytest
import torch
from spectral_cases import F64, gen, orthonormal

from lorascope.errors import InputError
from lorascope.spectral import (
    counts_over_epsilon,
    counts_over_k_fraction,
    intruder_mask,
    max_cos,
    similarity_map,
)
from lorascope.spectral.intruders import k_for_fraction


def test_max_cos_searches_every_base_column_and_ignores_sign():
    m = 6
    base = torch.eye(m, dtype=F64)
    tuned = torch.zeros(m, 3, dtype=F64)
    tuned[5, 0] = -1.0  # the last base vector, negated
    tuned[:, 1] = torch.tensor([0.6, 0, 0, 0, -0.8, 0])
    tuned[:, 2] = torch.ones(m) / m**0.5  # the least aligned direction: 1/√m to everything
    values, where = max_cos(tuned, base)
    assert values.tolist() == pytest.approx([1.0, 0.8, 6**-0.5])
    assert where[:2].tolist() == [5, 4]
    assert int(where[2]) == 0  # ties go to the lowest base index


def test_max_cos_normalises_columns_and_accepts_lower_precision():
    g = gen(1)
    U = orthonormal(50, 50, g)
    Y = orthonormal(50, 4, g)
    exact, idx = max_cos(Y, U)
    scaled, idx2 = max_cos(3.0 * Y, (U * 0.5).to(torch.float32))
    assert torch.allclose(scaled.to(F64), exact, atol=1e-6)
    assert torch.equal(idx, idx2)
    with pytest.raises(InputError):
        max_cos(torch.ones(5, 2), torch.ones(6, 2))


@pytest.mark.parametrize("layout", ["row-major", "column-major"])
def test_max_cos_of_a_large_basis_matches_the_float64_formula(layout):
    """Bases taller than one chunk of the column-norm sum, with uneven and zero columns, either memory order."""
    g = gen(2)
    base = torch.randn(1000, 300, generator=g, dtype=F64) * torch.linspace(0.1, 10, 300, dtype=F64)
    base[:, 7] = 0.0
    tuned = torch.randn(1000, 5, generator=g, dtype=F64)
    stored = base.to(torch.float32)
    stored = stored if layout == "row-major" else stored.T.contiguous().T
    values, where = max_cos(tuned, stored)
    norms = torch.linalg.vector_norm(base, dim=0)
    cos = (tuned.T @ base).abs() / torch.outer(torch.linalg.vector_norm(tuned, dim=0), norms.clamp_min(1e-300))
    assert torch.allclose(values.to(F64), cos.max(dim=1).values, atol=1e-6)
    assert torch.equal(where, cos.argmax(dim=1))


def test_intruder_mask_is_strict():
    mc = torch.tensor([0.2, 0.5, 0.50001, 0.49999], dtype=F64)
    assert intruder_mask(mc, 0.5).tolist() == [True, False, False, True]


def test_counts_over_epsilon():
    mc = torch.tensor([0.05, 0.3, 0.3, 0.95, 0.6])
    assert counts_over_epsilon(mc, [0.1, 0.3, 0.31, 0.9, 1.0]) == [1, 1, 3, 4, 5]


def test_k_for_fraction_rounding():
    assert k_for_fraction(0.1, 30) == 3  # 0.1 · 30 = 3.0000000000000004 in floating point
    assert k_for_fraction(0.7, 10) == 7
    assert k_for_fraction(0.101, 30) == 4
    assert k_for_fraction(0.001, 30) == 1
    assert k_for_fraction(1.0, 30) == 30
    with pytest.raises(InputError):
        k_for_fraction(0.0, 30)


def test_counts_over_k_fraction():
    mc = torch.tensor([0.1, 0.9, 0.2, 0.9, 0.9, 0.3, 0.9, 0.9, 0.9, 0.05])
    # top 1: 1 intruder; top 3: 2; top 5: 2; top 6: 3; top 10: 4.
    assert counts_over_k_fraction(mc, [0.1, 0.3, 0.5, 0.6, 1.0], 0.5) == [1, 2, 2, 3, 4]
    counts = counts_over_k_fraction(mc, [i / 10 for i in range(1, 11)], 0.5)
    assert counts == sorted(counts)


def test_similarity_map_rows_are_base_columns_are_tuned():
    g = gen(2)
    U = orthonormal(40, 40, g)
    perm = [3, 0, 1, 2, 7, 5, 6, 4]
    tuned = -U[:, perm]
    sim = similarity_map(U, tuned, 8)
    assert sim.dtype == torch.float32 and sim.shape == (8, 8)
    expected = torch.zeros(8, 8)
    for j, i in enumerate(perm):
        expected[i, j] = 1.0  # tuned vector j is base vector i
    assert torch.allclose(sim, expected, atol=1e-6)
    with pytest.raises(InputError):
        similarity_map(U, tuned, 9)
    with pytest.raises(InputError):
        similarity_map(U, tuned, 0)
