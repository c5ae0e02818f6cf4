"""A tuned matrix equal to its base: answered without a decomposition, and the answer is the reference's."""

from __future__ import annotations

import pytest
import scipy.linalg
import torch
from spectral_cases import F64, decaying, gen, orthonormal, with_spectrum

from lorascope.spectral import LowRankUpdate, analyze_matrix, base_spectrum, delta_stats, reference_intruders
from lorascope.spectral.identical import unchanged

EPSILONS = (0.1, 0.5, 0.9, 0.999)  # not 1.0: the reference's |cos| of a vector with itself is 1 − 2e-16 there


def _repeated(m: int, n: int, g: torch.Generator) -> torch.Tensor:
    """A spectrum with exactly repeated values inside the top 10 (each vector alone is not unique)."""
    s = decaying(min(m, n), 0.9)
    s[3] = s[2]
    s[7] = s[6] = s[5]
    return with_spectrum(m, n, s, g)


@pytest.fixture(params=["gauss-120x200", "decay-200x120", "repeated-150x150"])
def W0(request) -> torch.Tensor:
    kind, shape = request.param.split("-")
    m, n = (int(x) for x in shape.split("x"))
    g = gen(m + n)
    if kind == "gauss":
        return torch.randn(m, n, generator=g, dtype=F64) / n**0.5
    return with_spectrum(m, n, decaying(min(m, n), 0.95), g) if kind == "decay" else _repeated(m, n, g)


def _no_decomposition(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a decomposition ran on the identical path")

    for name in ("svd", "eigh", "svdvals", "eigvalsh", "qr"):
        monkeypatch.setattr(torch.linalg, name, refuse)
    monkeypatch.setattr(scipy.linalg, "eigh", refuse)


def _tuned_equal_to(W0: torch.Tensor) -> list:
    m, n = W0.shape
    g = gen(3)
    return [W0.clone(),
            LowRankUpdate(torch.zeros(m, 4, dtype=F64), torch.randn(4, n, generator=g, dtype=F64), 2.0),
            LowRankUpdate(torch.randn(m, 4, generator=g, dtype=F64), torch.randn(4, n, generator=g, dtype=F64), 0.0)]


def test_identical_matrices_get_the_reference_answer_without_a_decomposition(W0, monkeypatch):
    m, n = W0.shape
    k, n_map = 10, 12
    ref = reference_intruders(W0, W0, k, 0.5)
    ref_all = reference_intruders(W0, W0, min(m, n), 0.5)
    base = base_spectrum(W0)
    expected_map = (ref.U_base[:, :n_map].T @ reference_intruders(W0, W0, n_map, 0.5).U_tuned).abs()
    zero_delta = delta_stats(torch.zeros(m, n, dtype=F64))
    fractions = (0.1, 0.5, 1.0)
    with monkeypatch.context() as mp:
        _no_decomposition(mp)
        results = [analyze_matrix(W0, tuned, k=k, epsilon=0.5, epsilons=EPSILONS, map_size=n_map, base=base,
                                  k_fractions=fractions) for tuned in _tuned_equal_to(W0)]
    for got in results:
        assert got.solver == "identical"
        assert got.intruders == ref.count == 0
        assert [t.intruder for t in got.top] == ref.intruder
        assert [t.max_cos for t in got.top] == pytest.approx(ref.max_cos, abs=1e-12)
        assert [t.base_index for t in got.top] == ref.base_index == list(range(k))
        assert [t.sigma for t in got.top] == pytest.approx(ref.sigma, rel=1e-10, abs=1e-12)
        assert got.epsilon_counts == [sum(c < e for c in ref.max_cos) for e in EPSILONS]
        assert got.k_fraction_counts == [0, 0, 0] == [sum(ref_all.intruder[: max(1, round(f * min(m, n)))])
                                                      for f in fractions]
        assert torch.allclose(got.similarity.to(F64), expected_map, atol=1e-12)
        assert got.delta == zero_delta


def test_without_a_base_only_the_top_values_are_computed(W0):
    ref = reference_intruders(W0, W0, 10, 0.5)
    got = analyze_matrix(W0, W0.clone(), k=10)
    assert got.solver == "identical"
    assert [t.sigma for t in got.top] == pytest.approx(ref.sigma, rel=1e-10, abs=1e-12)
    assert [t.max_cos for t in got.top] == pytest.approx(ref.max_cos, abs=1e-12)


def test_equal_values_in_another_dtype_are_identical_and_one_changed_element_is_not():
    g = gen(5)
    W0 = (torch.randn(80, 130, generator=g) / 10).to(torch.bfloat16)
    assert unchanged(W0, W0.to(torch.float32)) and unchanged(W0.float(), W0)
    changed = W0.to(torch.float32).clone()
    changed[17, 3] += 2.0**-20
    assert not unchanged(W0, changed)
    assert not unchanged(W0, LowRankUpdate(torch.ones(80, 1), torch.ones(1, 130), 1e-30))
    got = analyze_matrix(W0, changed, k=10, base=base_spectrum(W0))
    assert got.solver != "identical"
    ref = reference_intruders(W0, changed, 10, 0.5)
    assert [t.max_cos for t in got.top] == pytest.approx(ref.max_cos, abs=1e-6)


def test_solver_exact_still_decomposes_an_identical_matrix():
    g = gen(6)
    W0 = orthonormal(60, 60, g) @ torch.diag(decaying(60, 0.9)) @ orthonormal(60, 60, g).T
    got = analyze_matrix(W0, W0.clone(), k=10, solver="exact")
    assert got.solver == "exact" and got.intruders == 0
    assert [t.max_cos for t in got.top] == pytest.approx([1.0] * 10, abs=1e-9)
