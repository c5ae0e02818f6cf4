"""The intervention's choice of triplets on planted intruders, against a float64 SVD of the merged matrix."""

from __future__ import annotations

import pytest
import torch
from spectral_cases import merged, planted

from lorascope.spectral import base_spectrum, reference_intruders
from lorascope.spectral.intervention import choose_triplets


@pytest.fixture(scope="module")
def case():
    W0, update = planted(48, 40, [0, 2], seed=3)  # intruders at ranks 0 and 2 for ε = 0.5
    return W0, update, base_spectrum(W0)


@pytest.mark.parametrize(("target", "want"), [("top-intruder", (0,)), ("all-intruders", (0, 2)),
                                              ("neighbour", (1,))])
def test_choice_matches_the_reference(case, target, want):
    W0, update, base = case
    Wt = merged(W0, update)
    ref = reference_intruders(W0, Wt, 6, 0.5)
    assert tuple(j for j in range(6) if ref.intruder[j]) == (0, 2)
    S = torch.linalg.svdvals(Wt)
    for tuned in (update, Wt):  # factored and dense give the same choice
        choice = choose_triplets(W0, tuned, base, target=target, k=6, epsilon=0.5)
        t = choice.triplets
        assert choice.intruders == (0, 2) and t.indices == want and not choice.no_neighbour
        for col, j in enumerate(want):
            u, v = t.U[:, col], t.V[:, col]
            assert abs(t.sigmas[col] - float(S[j])) < 1e-10 * float(S[0])
            # the case's base basis comes from the Gram method (its small vectors carry ~eps·cond² error), and the
            # fast paths stop at a 1e-7 residual bound: 1e-8 failed by 1.3e-8 in one full-suite run
            assert abs(t.max_cos[col] - ref.max_cos[j]) < 1e-7
            assert float(v.norm()) == pytest.approx(1.0, abs=1e-12)
            # σ u vᵀ is exactly the part of W_tuned along u
            assert torch.allclose(t.sigmas[col] * torch.outer(u, v), torch.outer(u, u @ Wt), atol=1e-12)


def test_no_intruder_leaves_the_matrix(case):
    W0, _, base = case
    choice = choose_triplets(W0, W0 * 1.001, base, target="all-intruders", k=6, epsilon=0.5)
    assert choice.intruders == () and choice.triplets is None


def test_whole_update_has_no_triplets(case):
    W0, update, base = case
    with pytest.raises(ValueError, match="target"):
        choose_triplets(W0, update, base, target="whole-update", k=6, epsilon=0.5)
