"""The slow, obviously-correct intruder test: two float64 SVDs and the paper's double loop.

Every fast path in this room is tested against it; it is not meant for real-sized matrices.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lorascope.errors import InputError


@dataclass(frozen=True)
class ReferenceResult:
    """Per examined tuned vector j < k: the largest |cos| to any base vector, where it is, and the verdict."""

    max_cos: list[float]
    base_index: list[int]
    intruder: list[bool]
    count: int
    sigma: list[float]  # top-k singular values of W_tuned
    U_tuned: torch.Tensor  # (m, k) float64
    U_base: torch.Tensor  # (m, p) float64
    S_base: torch.Tensor  # (p,) float64


def reference_intruders(W0: torch.Tensor, W_tuned: torch.Tensor, k: int, epsilon: float) -> ReferenceResult:
    """Algorithm 1 as written: tuned vector j is an intruder iff |cos| < epsilon for every base vector i."""
    U0, S0 = _left_svd(W0)
    Ut, St = _left_svd(W_tuned)
    p = U0.shape[1]
    if not 1 <= k <= Ut.shape[1]:
        raise InputError(f"k must be in [1, {Ut.shape[1]}]; got {k}")
    best, where, verdict = [], [], []
    for j in range(k):
        y = Ut[:, j]
        all_below = True
        top, top_i = -1.0, -1
        for i in range(p):
            c = abs(float(torch.dot(U0[:, i], y)))
            if not c < epsilon:
                all_below = False
            if c > top:
                top, top_i = c, i
        best.append(top)
        where.append(top_i)
        verdict.append(all_below)
    return ReferenceResult(max_cos=best, base_index=where, intruder=verdict, count=sum(verdict),
                           sigma=[float(s) for s in St[:k]], U_tuned=Ut[:, :k].clone(), U_base=U0, S_base=S0)


def _left_svd(W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """U and S of a float64 thin SVD; a wide W is decomposed as Wᵀ (same factorisation, LAPACK's faster path)."""
    W = W.detach().to(torch.float64)
    if W.shape[0] < W.shape[1]:
        _, S, Uh = torch.linalg.svd(W.T, full_matrices=False)
        return Uh.T, S
    U, S, _ = torch.linalg.svd(W, full_matrices=False)
    return U, S
