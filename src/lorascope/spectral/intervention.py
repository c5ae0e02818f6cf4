"""Which singular triplets of W_tuned the paper's intervention (§5) rescales: pure tensor code, no I/O.

Targets:
- "top-intruder" (the paper): the highest-ranked intruder i (smallest index below k with max |cos| < ε).
- "all-intruders": every intruder among the top k (what PEFT's reduce_intruder_dimension scales).
- "neighbour" (the paper's control): a non-intruder next to i in W_tuned's singular-value order (see
  `neighbour_index`); indices at or past k are tested with the same ε.
- "whole-update" (the reviewers' baseline): W0 + λ·ΔW, no triplet at all.

v_j is computed as W_tunedᵀ u_j / σ_j with σ_j = ‖W_tunedᵀ u_j‖, so σ_j·u_j·v_jᵀ = u_j u_jᵀ W_tuned exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from lorascope.spectral.basis import BaseSpectrum
from lorascope.spectral.intruders import intruder_mask, max_cos
from lorascope.spectral.operator import tuned_operator
from lorascope.spectral.topk import TopSingular, top_singular
from lorascope.spectral.update import Tuned

TARGETS: tuple[str, ...] = ("top-intruder", "all-intruders", "neighbour", "whole-update")
TRUST = 1e-6  # largest accepted angle-error bound of the top vectors before an exact SVD is used instead
EXACT_UP_TO = 1024  # min(m, n) up to which solver "auto" takes W_tuned's top vectors from a full SVD


@dataclass(frozen=True)
class Triplets:
    """Chosen singular triplets (σ_j, u_j, v_j) of W_tuned, float64, and the intruder test behind them."""

    indices: tuple[int, ...]  # singular indices of W_tuned
    sigmas: tuple[float, ...]  # σ_j = ‖W_tunedᵀ u_j‖
    max_cos: tuple[float, ...]  # max |cos| of u_j to every base left singular vector
    solver: str
    U: torch.Tensor = field(repr=False, compare=False)  # (m, t)
    V: torch.Tensor = field(repr=False, compare=False)  # (n, t)


@dataclass(frozen=True)
class Choice:
    """What to rescale in one matrix: `triplets` None leaves it as it is (no intruder, or no neighbour)."""

    intruders: tuple[int, ...]  # every intruder index among the top k
    triplets: Triplets | None
    no_neighbour: bool = False  # target "neighbour", but every singular vector is an intruder


def neighbour_index(first: int, flags: Sequence[bool]) -> int | None:
    """The control index for top intruder `first` given intruder flags of W_tuned's leading vectors.

    i + 1 when it is not an intruder; else i − 1 (a non-intruder when i ≥ 1, since i is the first intruder);
    else (i = 0 and index 1 an intruder) the first non-intruder above 1; None when there is none.
    """
    n = len(flags)
    if first + 1 < n and not flags[first + 1]:
        return first + 1
    if first >= 1:
        return first - 1
    return next((j for j in range(first + 2, n) if not flags[j]), None)


def trusted_top(W0: torch.Tensor, tuned: Tuned, count: int, base: BaseSpectrum, solver: str) -> TopSingular:
    """W_tuned's top `count` singular pairs, exact below EXACT_UP_TO or when the fast path is not trusted."""
    if solver == "auto" and min(W0.shape) <= EXACT_UP_TO:
        solver = "exact"  # measured: a float64 SVD beats the Krylov paths at these sizes
    found = top_singular(W0, tuned, count, base=base, solver=solver)
    if found.error_bound > TRUST and not found.solver.startswith("exact"):
        found = top_singular(W0, tuned, count, base=base, solver="exact")
    return found


def choose_triplets(W0: torch.Tensor, tuned: Tuned, base: BaseSpectrum, *, target: str, k: int, epsilon: float,
                    solver: str = "auto") -> Choice:
    """The triplets of W_tuned = W0 + ΔW that `target` rescales (any target but "whole-update")."""
    if target not in TARGETS or target == "whole-update":
        raise ValueError(f"choose_triplets: target must be one of {', '.join(TARGETS[:3])}; got {target!r}")
    p = min(W0.shape)
    count = min(p, k + 1) if target == "neighbour" else k
    while True:
        found = trusted_top(W0, tuned, count, base, solver)
        cos, _ = max_cos(found.U, base.U)
        flags = [bool(f) for f in intruder_mask(cos, epsilon)]
        intruders = tuple(j for j in range(k) if flags[j])
        if not intruders:
            return Choice((), None)
        if target == "top-intruder":
            chosen: tuple[int, ...] = intruders[:1]
        elif target == "all-intruders":
            chosen = intruders
        else:
            j = neighbour_index(intruders[0], flags)
            if j is None and count < p:
                count = min(p, 2 * count)
                continue
            if j is None:
                return Choice(intruders, None, no_neighbour=True)
            chosen = (j,)
        break
    U = found.U[:, list(chosen)].to(torch.float64)
    WtU = tuned_operator(W0, tuned).rmatmul(U)
    sigma = torch.linalg.vector_norm(WtU, dim=0)
    V = WtU / torch.where(sigma > 0, sigma, torch.ones_like(sigma))
    triplets = Triplets(indices=chosen, sigmas=tuple(float(s) for s in sigma),
                        max_cos=tuple(float(cos[j]) for j in chosen), solver=found.solver, U=U, V=V)
    return Choice(intruders, triplets)
