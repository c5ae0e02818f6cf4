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
from lorascope.spectral.dense import gram_lower
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

    Dense: all min(m, n) values, from the eigenvalues of the smaller float64 Gram matrix (see
    gram_singular_values). Factored s·B A: QR of B and of Aᵀ, then the SVD of the small s·R_B R_Aᵀ, so
    only min(r, m, n) values come back (the rest are exactly zero).
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
    return gram_singular_values(check_matrix(delta, "update"))


def gram_singular_values(D: torch.Tensor) -> torch.Tensor:
    """All min(m, n) singular values of D as √eig(smaller Gram matrix), float64, descending.

    About 4× faster than a float64 SVD (4096 × 4096 on 2 cores: 2.8 s vs 12 s) and all the update measures
    need. Values are exact to rounding above the Gram matrix's noise floor √(p·eps)·σ₁ (~1e-6·σ₁ for
    p = 4096); values below it cannot be told from zero there and are returned as 0, so a rank-r update
    stored densely has exactly r non-zero values, as its factored form does. Measures built from σ
    change by less than p·floor/Σσ (the float64 SVD's own tail is at the floor of the data anyway:
    ΔW of bf16 checkpoints carries ~1e-3 relative quantisation noise).
    """
    D = D.detach().to(torch.float64)
    lam = torch.linalg.eigvalsh(gram_lower(D), UPLO="L").flip(0)
    p = lam.numel()
    if p == 0 or not float(lam[0]) > 0:
        return lam.clamp_min(0)
    floor = p * torch.finfo(torch.float64).eps * float(lam[0])
    return torch.where(lam > floor, lam, torch.zeros_like(lam)).sqrt()


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
