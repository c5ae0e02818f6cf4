"""How big and how spread out the update ΔW is, from its singular values alone.

Conventions for ΔW = 0 (no update at all): effective_rank 0.0, stable_rank 0.0, energy ranks 0,
norms 0.0, so a frozen matrix reads as "rank 0" instead of raising or returning nan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lorascope.errors import InputError
from lorascope.spectral._validate import check_matrix, check_unit_interval
from lorascope.spectral.dense import svdvals64
from lorascope.spectral.update import LowRankUpdate

_ENERGY_SLACK = 1e-12  # relative slack so that a 0.9 share equal to 0.9 up to rounding counts as reached


@dataclass(frozen=True)
class DeltaStats:
    """Update measures of ΔW (floats and ints, JSON-ready)."""

    effective_rank: float
    stable_rank: float
    energy_rank_90: int
    energy_rank_99: int
    fro_norm: float
    spectral_norm: float


def update_singular_values(delta: torch.Tensor | LowRankUpdate) -> torch.Tensor:
    """Singular values of ΔW, descending, float64 on the input's device.

    Dense: all min(m, n) values. Factored s·B A: QR of B and of Aᵀ, then the SVD of the small
    s·R_B R_Aᵀ, so only min(r, m, n) values come back (the rest are exactly zero).
    """
    if isinstance(delta, LowRankUpdate):
        B = check_matrix(delta.B, "B of the low-rank update").detach().to(torch.float64)
        A = check_matrix(delta.A, "A of the low-rank update").detach()
        A = A.to(device=B.device, dtype=torch.float64)
        if not math.isfinite(float(delta.scale)):
            raise InputError(f"low-rank update scale must be finite; got {delta.scale!r}")
        R_b = torch.linalg.qr(B, mode="r")[1]
        R_a = torch.linalg.qr(A.T, mode="r")[1]
        return torch.linalg.svdvals(abs(float(delta.scale)) * (R_b @ R_a.T))
    return svdvals64(check_matrix(delta, "update"))


def effective_rank(s: torch.Tensor) -> float:
    """Roy–Vetterli effective rank exp(H), H the entropy of the L1-normalised σ; 0.0 if all are zero."""
    s = s.detach().to(torch.float64).abs()
    total = float(s.sum())
    if total == 0:
        return 0.0
    q = s[s > 0] / total
    return math.exp(float(-(q * torch.log(q)).sum()))


def stable_rank(s: torch.Tensor) -> float:
    """Σσ² / σ_max² (between 1 and the rank); 0.0 if all zero."""
    s = s.detach().to(torch.float64).abs()
    top = float(s.max()) if s.numel() else 0.0
    return float((s**2).sum()) / top**2 if top > 0 else 0.0


def energy_rank(s: torch.Tensor, fraction: float) -> int:
    """Smallest number of leading singular values that hold `fraction` of Σσ²; 0 if all zero."""
    check_unit_interval(fraction, "energy fraction")
    e = torch.sort(s.detach().to(torch.float64).abs(), descending=True).values ** 2
    total = float(e.sum())
    if total == 0:
        return 0
    reached = e.cumsum(0) >= (fraction - _ENERGY_SLACK) * total
    return int(reached.to(torch.int64).argmax()) + 1


def delta_stats(delta: torch.Tensor | LowRankUpdate) -> DeltaStats:
    """All update measures of ΔW (dense or factored) from one set of singular values."""
    s = update_singular_values(delta)
    return DeltaStats(effective_rank=effective_rank(s), stable_rank=stable_rank(s),
                      energy_rank_90=energy_rank(s, 0.9), energy_rank_99=energy_rank(s, 0.99),
                      fro_norm=float(torch.linalg.vector_norm(s)),
                      spectral_norm=float(s.max()) if s.numel() else 0.0)
