"""The toy of PAPER.md §5.13, measured: W + λ v vᵀ (W Gaussian, v a random unit vector, λ = 2σ_max(W)) should
have exactly one intruder, at the top rank. The rows go to a table the report's claim check reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lorascope.spectral import analyze_matrix

TABLE = "toy_spike"
DESCRIPTION = "PAPER.md §5.13: a Gaussian W plus a rank-one spike above σ_max(W) has one intruder, at the top"
ABOUT = "intruders of W + λ v vᵀ (λ > σ_max(W)) at k over a few ε: how many, at which ranks (1 = top)"


def spike_rows(n: int = 200, seed: int = 0, epsilons: Sequence[float] = (0.3, 0.5, 0.7, 0.9),
               k: int = 10, spike: float = 2.0) -> list[dict[str, Any]]:
    """One row per ε: the intruders of the n × n Gaussian matrix spiked by λ = spike·σ_max, with their 1-based
    ranks."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(n, n, generator=g, dtype=torch.float64) / n**0.5
    v = torch.randn(n, 1, generator=g, dtype=torch.float64)
    v = v / torch.linalg.vector_norm(v)
    lam = spike * float(torch.linalg.matrix_norm(W, ord=2))
    rows = []
    for eps in epsilons:
        ranks = [t.index + 1 for t in analyze_matrix(W, W + lam * (v @ v.T), k=k, epsilon=eps).top if t.intruder]
        rows.append({"n": n, "seed": seed, "k": k, "lambda_over_sigma_max": spike, "epsilon": float(eps),
                     "intruders": len(ranks), "intruder_ranks": ranks})
    return rows
