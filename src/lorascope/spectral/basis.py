"""All left singular vectors and values of the base matrix W0, cheaper than a full SVD.

The intruder test compares tuned vectors against *every* base vector, so W0's whole left basis is
needed once per matrix. The "gram" method gets it from a symmetric eigensolver on the smaller Gram
matrix (float64), then repairs the columns the Gram matrix cannot resolve; "svd" is a float64 SVD.

Precision: both methods return float64 U and S on W0's device. With "svd" columns are accurate to
about eps·σ₁/gap. With "gram" every column is either accepted from the eigendecomposition, when a
worst-case Davis–Kahan bound with the Gram matrix's rounding noise puts its angle error below 1e-5, or
recomputed by an exact SVD restricted to its (well separated) cluster; so the result matches a float64
SVD where gaps make a column well defined and spans the same subspace inside near-degenerate clusters.
The bound is pessimistic: on the benchmark's LLaMA-shaped spectra (bench/scan_bench.py) the largest
measured angle to the float64 SVD's columns was 1e-7, the size of float32 rounding (a 1e-6 bar flagged
a quarter of those columns and forced the ~3× slower float64 SVD for no accuracy gained). Storing U as
float32 adds ~1e-7 to every cosine and changes no intruder decision in practice; float16 (~5e-4) can,
near ε.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from lorascope.errors import InputError
from lorascope.spectral._validate import check_matrix
from lorascope.spectral.dense import gram_lower, svd64

_EPS64 = torch.finfo(torch.float64).eps
_RESOLVE_TOL = 1e-5  # estimated angle error (worst-case bound) above which a gram column is recomputed
_MAX_REPAIR_SHARE = 0.25  # repairing more columns than this costs about a full SVD: do that instead
_SCIPY_EIGH_FROM = 512  # measured, 1 thread: 576² 134 → 101 ms, 1536×576 223 → 136 ms against torch's eigh


@dataclass(frozen=True)
class BaseSpectrum:
    """W0 = U diag(S) Vᵀ restricted to what the intruder test needs: U (m, p), S (p,) descending."""

    U: torch.Tensor
    S: torch.Tensor
    method: str  # "gram" or "svd": what was actually computed

    @property
    def shape(self) -> tuple[int, int]:
        return (self.U.shape[0], self.U.shape[1])


def base_spectrum(W0: torch.Tensor, method: Literal["auto", "gram", "svd"] = "auto") -> BaseSpectrum:
    """U and S of W0 (float64). "auto" is "gram", which falls back to "svd" if too much needs repair."""
    W = check_matrix(W0, "W0").detach().to(torch.float64)
    if method not in ("auto", "gram", "svd"):
        raise InputError(f"method must be 'auto', 'gram' or 'svd'; got {method!r}")
    if method != "svd":
        found = _gram_spectrum(W)
        if found is not None:
            return found
    U, S, _ = svd64(W)
    return BaseSpectrum(U=U, S=S, method="svd")


def _gram_eigh(W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenpairs of the smaller Gram matrix of W (see dense.gram_lower), largest first.

    On CPU, matrices from p = 512 go to scipy's syevd (20–40 % faster than torch's), which works inside the Gram
    matrix's own memory, so the peak holds one p × p matrix.
    """
    G = gram_lower(W)
    if G.device.type == "cpu" and G.shape[0] >= _SCIPY_EIGH_FROM:
        import scipy.linalg

        lam, E = scipy.linalg.eigh(G.numpy(), lower=True, driver="evd", check_finite=False, overwrite_a=True)
        del G
        lam, E = torch.from_numpy(lam), torch.from_numpy(E)
    else:
        lam, E = torch.linalg.eigh(G, UPLO="L")
    return lam.flip(0), E.flip(1)


def _gram_spectrum(W: torch.Tensor) -> BaseSpectrum | None:
    """The gram method, or None when the matrix is too degenerate for it to pay off."""
    m, n = W.shape
    p = min(m, n)
    wide = m <= n  # then the eigenvectors of W Wᵀ are U itself; else those of WᵀW are V and U = W V / σ
    lam, E = _gram_eigh(W)
    lam1 = float(lam[0])
    if not lam1 > 0:
        return None  # W0 = 0: every direction is degenerate, let the SVD pick a basis
    sigma = lam.clamp_min(0).sqrt()
    # Noise of the computed Gram matrix relative to λ₁ (rounding in the product and in eigh).
    noise = 2 * _EPS64 * math.sqrt(max(m, n)) * lam1
    steps = lam[:-1] - lam[1:]
    inf = torch.full((1,), math.inf, dtype=lam.dtype, device=lam.device)
    gap = torch.minimum(torch.cat([inf, steps]), torch.cat([steps, inf]))
    err = noise / gap  # angle error of each eigenvector (Davis–Kahan with the Gram noise)
    # wide: σ = √λ must be accurate as well; tall: U = W V / σ amplifies V's error along v₁ by σ₁/σ.
    err = torch.maximum(err, noise / lam.clamp_min(0)) if wide else err + noise / (math.sqrt(lam1) * sigma)
    bad = ~(err <= _RESOLVE_TOL)
    if int(bad.sum()) > _MAX_REPAIR_SHARE * p:
        return None
    if wide:
        U, S = E, sigma.clone()
    elif not bad.any():  # the common case: no repair, so no m×p temporaries beyond U itself
        U = W @ E
        S = torch.linalg.vector_norm(U, dim=0)
        U.div_(S)
    else:
        U = torch.zeros(m, p, dtype=W.dtype, device=W.device)
        S = torch.zeros(p, dtype=W.dtype, device=W.device)
        good = (~bad).nonzero().flatten()
        if good.numel():
            WV = W @ E[:, good]
            S[good] = torch.linalg.vector_norm(WV, dim=0)
            U[:, good] = WV.div_(S[good])
            del WV
    runs = _runs(bad)
    if runs:
        # One pass over W for every run at once (a pass per run cost ~10 ms each on 4096²; spectra have dozens).
        cols = torch.cat([torch.arange(a, b, device=E.device) for a, b in runs])
        if wide:
            P_all = E[:, cols].T @ W  # the runs' left subspaces (accurate) applied to W
        else:
            X_all = W @ E[:, cols]
            for _ in range(2):  # keep the runs orthogonal to the accepted columns, even when σ ≈ 0
                X_all = X_all - U @ (U.T @ X_all)  # (U is zero in every run's columns so far)
        done = 0
        for a, b in runs:
            rows = slice(done, done + b - a)
            if wide:
                # Exact SVD of W restricted to the cluster's (accurate) left subspace: a Rayleigh–Ritz step.
                P, s, _ = svd64(P_all[rows])
                U[:, a:b] = E[:, a:b] @ P
            else:
                X = X_all[:, rows]
                earlier = U[:, cols[:done]]  # runs repaired before this one
                for _ in range(2):
                    X = X - earlier @ (earlier.T @ X)
                P, s, _ = torch.linalg.svd(X, full_matrices=False)
                U[:, a:b] = P
            S[a:b] = s
            done += b - a
    order = torch.argsort(S, descending=True, stable=True)
    if torch.equal(order, torch.arange(p, device=order.device)):
        return BaseSpectrum(U=U, S=S, method="gram")  # already in order: skip an m×p copy
    return BaseSpectrum(U=U[:, order].contiguous(), S=S[order].contiguous(), method="gram")


def _runs(mask: torch.Tensor) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in a 1-D bool tensor."""
    runs, start = [], None
    for i, flag in enumerate(mask.tolist()):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(mask)))
    return runs
