"""The one call the scan pipeline makes per matrix: intruders, ε and k sweeps, similarity map, ΔW ranks.

Cost per matrix: one base spectrum (all of W0's left vectors; see basis.py) unless `base` is given,
the top max(k, map_size) tuned vectors (see topk.py), and the singular values of ΔW (the float64 Gram
eigenvalues of a dense update, or an r × r SVD for a LowRankUpdate; skipped with update_stats=False).
`k_fractions` needs every tuned singular vector, so it replaces the top-k solve by a float64 full SVD
of W_tuned: about as slow as "svd" for the base, on every matrix.

A tuned matrix equal to W0 (identical.py) costs none of that (solver "identical"): its top vectors are
W0's own, so each max |cos| is 1 at its own base index, the map is the identity and ΔW's measures are 0.
Only the top σ are numbers to find: `base.S` when a base is given, else W0's top values (topk.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lorascope.errors import InputError
from lorascope.spectral._validate import check_k, check_matrix, check_tuned, check_unit_interval
from lorascope.spectral.basis import BaseSpectrum, base_spectrum
from lorascope.spectral.cost import plan_dense_matrix
from lorascope.spectral.dense import gram_lower, svd64, top_eigh
from lorascope.spectral.identical import unchanged
from lorascope.spectral.intruders import (
    counts_over_epsilon,
    counts_over_k_fraction,
    intruder_mask,
    max_cos,
    similarity_map,
)
from lorascope.spectral.operator import aligned_columns, thin_mm, thin_tmm, tuned_operator
from lorascope.spectral.rank import DeltaStats, delta_stats
from lorascope.spectral.topk import Solver, check_solver, solve_top
from lorascope.spectral.update import LowRankUpdate, Tuned
from lorascope.spectral.workspace import Workspace, upcast

DEFAULT_EPSILONS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class TopVector:
    """One examined tuned singular vector: its rank, σ, best |cos| to the base and at which base rank."""

    index: int
    sigma: float
    max_cos: float
    base_index: int
    intruder: bool


@dataclass(frozen=True)
class MatrixAnalysis:
    """Everything measured on one weight matrix."""

    top: list[TopVector]  # k entries, in singular-value order
    intruders: int
    epsilon_counts: list[int]  # aligned with the epsilons argument
    k_fraction_counts: list[int] | None
    similarity: torch.Tensor  # (n, n) float32, rows base top-n, columns tuned top-n
    delta: DeltaStats | None  # None when update_stats=False
    solver: str


def analyze_matrix(W0: torch.Tensor, tuned: Tuned, *, k: int = 10, epsilon: float = 0.5,
                   epsilons: Sequence[float] = DEFAULT_EPSILONS, map_size: int = 10,
                   k_fractions: Sequence[float] | None = None, base: BaseSpectrum | None = None,
                   solver: Solver = "auto", update_stats: bool = True,
                   workspace: Workspace | None = None, identical: bool | None = None) -> MatrixAnalysis:
    """Intruder analysis of W_tuned (dense, or W0 + LowRankUpdate) against W0; InputError on bad input.

    update_stats=False skips the ΔW measures (delta is None): for a dense ΔW they need all its singular
    values, several times the cost of the intruder test itself on a warm index. `workspace` (one per
    thread) keeps the float64 copies of the big matrices between calls; the results never alias it.
    solver: see topk.top_singular; with "auto", a W_tuned equal to W0 takes the "identical" answer.
    `identical`: the caller's own identical.unchanged(W0, tuned) (None: tested here).
    """
    check_matrix(W0, "W0")
    check_tuned(W0, tuned)
    m, n = W0.shape
    p = min(m, n)
    check_k(k, p)
    epsilon = check_unit_interval(epsilon, "epsilon")
    epsilons = [check_unit_interval(e, "epsilons entry") for e in epsilons]
    if k_fractions is not None:
        k_fractions = [check_unit_interval(f, "k_fractions entry") for f in k_fractions]
    if isinstance(map_size, bool) or not isinstance(map_size, int) or map_size < 1:
        raise InputError(f"map_size must be an integer ≥ 1; got {map_size!r}")
    check_solver(solver)
    if base is not None and (tuple(base.U.shape) != (m, p) or tuple(base.S.shape) != (p,)):
        raise InputError(f"base spectrum has U {tuple(base.U.shape)}, S {tuple(base.S.shape)}; "
                         f"W0 {(m, n)} needs ({m}, {p}) and ({p},)")
    n_map = min(map_size, p)
    wanted = max(k, n_map)
    if solver == "auto" and (unchanged(W0, tuned) if identical is None else identical):
        return _identical(W0, k, epsilon, epsilons, n_map, wanted, k_fractions, base, update_stats, workspace)
    if base is None:
        base = base_spectrum(W0)

    fraction_counts = None
    if k_fractions is not None:
        U_all, S_all, _ = svd64(tuned_operator(W0, tuned, workspace).dense())
        cos_all, _ = max_cos(U_all, base.U)
        fraction_counts = counts_over_k_fraction(cos_all, k_fractions, epsilon)
        U_top, S_top, used, in_base = U_all[:, :wanted], S_all[:wanted], "exact", None
    else:
        found = solve_top(W0, tuned, wanted, base=base, solver=solver, workspace=workspace)
        U_top, S_top, used, in_base = found.U, found.S, found.solver, found.in_base

    if in_base is not None:  # the cosines are known: no pass over U0
        cos, where = in_base[:, :k].abs().max(dim=0)
    else:
        cos, where = max_cos(U_top[:, :k], base.U)
    flags = intruder_mask(cos, epsilon)
    top = [TopVector(index=j, sigma=float(S_top[j]), max_cos=float(cos[j]), base_index=int(where[j]),
                     intruder=bool(flags[j])) for j in range(k)]
    delta = None
    if update_stats:
        if isinstance(tuned, LowRankUpdate):
            delta = delta_stats(tuned)
        else:
            if workspace is not None:  # a copy (so `tuned` is never touched) into the solve's W_t buffer, now free
                difference = workspace.float64("W", tuned).sub_(W0.detach().to(tuned.device))
            else:
                difference = tuned.detach().to(torch.float64) - W0.detach().to(tuned.device, torch.float64)
            delta = delta_stats(difference)
    counts = counts_over_epsilon(cos, epsilons)
    return MatrixAnalysis(top=top, intruders=int(flags.sum()), epsilon_counts=counts,
                          k_fraction_counts=fraction_counts, similarity=similarity_map(base.U, U_top, n_map),
                          delta=delta, solver=used)


def _identical(W0: torch.Tensor, k: int, epsilon: float, epsilons: Sequence[float], n_map: int, wanted: int,
               k_fractions: Sequence[float] | None, base: BaseSpectrum | None, update_stats: bool,
               workspace: Workspace | None) -> MatrixAnalysis:
    """The answer for W_tuned = W0, with no decomposition when `base` is given (else W0's top σ only)."""
    S = base.S[:wanted] if base is not None else _top_values(W0, wanted, workspace)
    cos = torch.ones(k, dtype=torch.float64)  # each tuned vector is the base vector of the same index
    flags = intruder_mask(cos, epsilon)
    top = [TopVector(index=j, sigma=float(S[j]), max_cos=1.0, base_index=j, intruder=bool(flags[j]))
           for j in range(k)]
    fraction_counts = None
    if k_fractions is not None:
        fraction_counts = counts_over_k_fraction(torch.ones(min(W0.shape), dtype=torch.float64), k_fractions,
                                                 epsilon)
    delta = DeltaStats(effective_rank=0.0, stable_rank=0.0, energy_rank_90=0, energy_rank_99=0, fro_norm=0.0,
                       spectral_norm=0.0) if update_stats else None
    return MatrixAnalysis(top=top, intruders=int(flags.sum()), epsilon_counts=counts_over_epsilon(cos, epsilons),
                          k_fraction_counts=fraction_counts, similarity=torch.eye(n_map, dtype=torch.float32),
                          delta=delta, solver="identical")


def _top_values(W0: torch.Tensor, count: int, workspace: Workspace | None) -> torch.Tensor:
    """W0's `count` largest singular values, as cheaply as the cost model knows how.

    Dense (small W0): the top eigenvectors of the Gram matrix, then σ_j = ‖W0ᵀu_j‖ (or ‖W0 v_j‖), which is
    accurate to second order in the vectors' error; no check needed for values. Else the checked Krylov top-k.
    """
    m, n = W0.shape
    if 2 * (count + 10) >= min(m, n) or plan_dense_matrix(m, n, aligned_columns(count + 2)).path == "iterative":
        return solve_top(W0, W0, count, workspace=workspace).S
    W = upcast(W0, "W", workspace)
    _, E = top_eigh(gram_lower(W), count)
    values = torch.linalg.vector_norm(thin_tmm(W, E) if m <= n else thin_mm(W, E), dim=0)
    return values.sort(descending=True).values
