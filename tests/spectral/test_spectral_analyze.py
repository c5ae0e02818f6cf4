"""analyze_matrix: the pipeline's entry point: validation, sweeps, the map, k fractions, JSON-ready fields."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import pytest
import torch
from spectral_cases import F64, gen, low_rank, merged, planted

from lorascope.errors import InputError
from lorascope.spectral import (
    LowRankUpdate,
    analyze_matrix,
    base_spectrum,
    reference_intruders,
)
from lorascope.spectral.intruders import k_for_fraction


def _pair(m=70, n=110, seed=1):
    g = gen(seed)
    W0 = torch.randn(m, n, generator=g, dtype=F64) / n**0.5
    return W0, low_rank(m, n, 3, 1.5, g)


def test_fields_are_plain_json_ready_values():
    W0, upd = _pair()
    res = analyze_matrix(W0, upd, k=5, epsilons=(0.25, 0.5), map_size=4)
    assert len(res.top) == 5 and [t.index for t in res.top] == list(range(5))
    doc = {"top": [asdict(t) for t in res.top], "delta": asdict(res.delta), "counts": res.epsilon_counts,
           "solver": res.solver, "intruders": res.intruders, "map": res.similarity.tolist()}
    json.dumps(doc, allow_nan=False)
    for t in res.top:
        assert type(t.sigma) is float and type(t.base_index) is int and type(t.intruder) is bool
    assert type(res.delta.energy_rank_90) is int and type(res.intruders) is int
    assert res.k_fraction_counts is None
    assert [t.sigma for t in res.top] == sorted((t.sigma for t in res.top), reverse=True)


def test_similarity_map_matches_the_reference_cosines():
    W0, upd = planted(90, 120, [0, 4], seed=5)
    Wt = merged(W0, upd)
    ref = reference_intruders(W0, Wt, 10, 0.5)
    res = analyze_matrix(W0, upd, k=10, map_size=10)
    expected = (ref.U_base[:, :10].T @ ref.U_tuned).abs()  # rows base, columns tuned
    assert res.similarity.dtype == torch.float32 and res.similarity.shape == (10, 10)
    assert torch.allclose(res.similarity.to(F64), expected, atol=1e-6)
    # Planted intruders are blank columns; the rest sit on the diagonal, shifted by the intruders before them.
    assert float(res.similarity[:, 0].max()) < 0.5 and float(res.similarity[:, 4].max()) < 0.5
    assert float(res.similarity[0, 1]) > 0.99 and float(res.similarity[3, 5]) > 0.99


def test_map_size_larger_than_k_and_clipped_to_p():
    W0, upd = _pair(m=30, n=50)
    res = analyze_matrix(W0, upd, k=3, map_size=12)
    assert res.similarity.shape == (12, 12) and len(res.top) == 3
    res = analyze_matrix(W0, upd, k=3, map_size=500)
    assert res.similarity.shape == (30, 30)


def test_k_fractions_use_every_tuned_vector():
    W0, upd = _pair(m=60, n=90, seed=3)
    Wt = merged(W0, upd)
    fractions = [0.05, 0.1, 0.5, 1.0]
    res = analyze_matrix(W0, upd, k=10, epsilon=0.5, k_fractions=fractions)
    assert res.solver == "exact"
    ref = reference_intruders(W0, Wt, 60, 0.5)  # every tuned vector
    assert res.k_fraction_counts == [sum(ref.intruder[: k_for_fraction(f, 60)]) for f in fractions]
    assert [t.intruder for t in res.top] == ref.intruder[:10]


def test_k_equal_to_p_and_a_given_base():
    W0, upd = _pair(m=24, n=40, seed=4)
    base = base_spectrum(W0)
    res = analyze_matrix(W0, upd, k=24, base=base)
    ref = reference_intruders(W0, merged(W0, upd), 24, 0.5)
    assert [t.intruder for t in res.top] == ref.intruder
    assert [t.max_cos for t in res.top] == pytest.approx(ref.max_cos, abs=1e-9)


def test_dense_delta_stats_equal_factored_ones():
    W0, upd = _pair(seed=6)
    a = analyze_matrix(W0, upd).delta
    b = analyze_matrix(W0, merged(W0, upd)).delta
    assert (a.energy_rank_90, a.energy_rank_99) == (b.energy_rank_90, b.energy_rank_99)
    assert a.fro_norm == pytest.approx(b.fro_norm, rel=1e-9)
    assert a.spectral_norm == pytest.approx(b.spectral_norm, rel=1e-9)
    assert a.stable_rank == pytest.approx(b.stable_rank, rel=1e-9)


def test_unchanged_matrix():
    W0, _ = _pair(seed=7)
    res = analyze_matrix(W0, W0.clone())
    assert res.intruders == 0 and res.delta.effective_rank == 0.0 and res.delta.energy_rank_99 == 0
    assert all(t.max_cos > 1 - 1e-9 for t in res.top)


BAD = [
    ({"k": 0}, "k"),
    ({"k": 71}, "k"),
    ({"k": 2.0}, "k"),
    ({"epsilon": 0.0}, "epsilon"),
    ({"epsilon": 1.5}, "epsilon"),
    ({"epsilon": math.nan}, "epsilon"),
    ({"epsilons": (0.5, 2.0)}, "epsilons"),
    ({"map_size": 0}, "map_size"),
    ({"k_fractions": [0.0]}, "k_fractions"),
    ({"solver": "fast"}, "solver"),
]


@pytest.mark.parametrize(("kwargs", "word"), BAD, ids=[w + str(i) for i, (_, w) in enumerate(BAD)])
def test_bad_options_are_one_line_input_errors(kwargs, word):
    W0, upd = _pair()
    with pytest.raises(InputError) as err:
        analyze_matrix(W0, upd, **kwargs)
    assert word in str(err.value) and "\n" not in str(err.value)


def test_bad_tensors_are_one_line_input_errors():
    W0, upd = _pair()
    cases = [
        (W0, torch.zeros(70, 111)),  # shape mismatch
        (W0, LowRankUpdate(torch.zeros(70, 2), torch.zeros(2, 100), 1.0)),
        (W0, LowRankUpdate(upd.B, upd.A, math.inf)),
        (torch.full((70, 110), math.nan), upd),
        (W0[0], upd),
        (W0.to(torch.int32), upd),
        (W0, torch.full((70, 110), math.inf)),
    ]
    for a, b in cases:
        with pytest.raises(InputError) as err:
            analyze_matrix(a, b)
        assert "\n" not in str(err.value)
    bad_base = base_spectrum(W0[:, :60])
    with pytest.raises(InputError):
        analyze_matrix(W0, upd, base=bad_base)


def test_update_stats_can_be_skipped_without_changing_the_intruder_test():
    g = torch.Generator().manual_seed(11)
    W0 = torch.randn(60, 80, generator=g, dtype=torch.float64)
    tuned = W0 + 0.3 * torch.randn(60, 80, generator=g, dtype=torch.float64)
    full = analyze_matrix(W0, tuned)
    lean = analyze_matrix(W0, tuned, update_stats=False)
    assert lean.delta is None and full.delta is not None and full.delta.effective_rank > 1
    assert lean.top == full.top and lean.epsilon_counts == full.epsilon_counts and lean.solver == full.solver
