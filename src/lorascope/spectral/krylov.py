"""Top eigenpairs of a symmetric PSD operator by block Krylov (block Lanczos) with full reorthogonalisation.

A block start (not a single vector) finds repeated eigenvalues, every step is a few thin products,
and the Ritz pairs carry residuals, so callers can tell how far each vector can be trusted.
Seeded and deterministic; runs on the device of the operator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

# Stop once every wanted vector's residual/gap bound is below this: 1000× inside topk.TRUST, and each step
# past it (1e-9 took one more) costs a pass over the matrix on the dense path.
_TARGET = 1e-7
_ACCEPTABLE = 1e-5  # ... or once the bounds stall below this
_STALL_STEPS = 3


@dataclass(frozen=True)
class EigenPairs:
    """Ritz approximations, largest first: values (c,), vectors (d, c), residual norms ‖M z − θ z‖ (c,)."""

    values: torch.Tensor
    vectors: torch.Tensor
    residuals: torch.Tensor
    bound: float  # max residual/gap over the wanted pairs (Davis–Kahan sin θ bound)
    basis_size: int


def gap_bounds(values: torch.Tensor, residuals: torch.Tensor, want: int) -> torch.Tensor:
    """residual_i / gap_i for i < want, the gap to each neighbour shrunk by that neighbour's residual."""
    c = values.numel()
    out = torch.empty(want, dtype=torch.float64)
    vals, res = values.tolist(), residuals.tolist()
    for i in range(want):
        gaps = [abs(vals[i] - vals[j]) - res[j] for j in (i - 1, i + 1) if 0 <= j < c]
        gap = min(gaps) if gaps else abs(vals[i])
        out[i] = res[i] / gap if gap > 0 else float("inf")
    return out


def top_eigenpairs(apply: Callable[[torch.Tensor], torch.Tensor], dim: int, count: int, want: int, *,
                   dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu", seed: int = 0,
                   max_basis: int | None = None, start: torch.Tensor | None = None) -> EigenPairs:
    """The `count` largest eigenpairs of the symmetric PSD operator `apply` (d×d); the first `want` converged.

    `want` < `count` < `dim` lets the gap after the last wanted value be measured. Stops when every
    wanted pair has residual/gap below 1e-7, when progress stalls at an acceptable level, or when the
    basis reaches `max_basis` (default max(24·count, 240), capped at dim); callers check `bound`.
    `start` (d, ≤ count) seeds the first block with approximate eigenvectors (the rest is random).
    """
    block = min(count, dim)
    limit = min(dim, max_basis if max_basis is not None else max(24 * block, 240))
    gen = torch.Generator(device="cpu").manual_seed(seed)

    def random_block(b: int) -> torch.Tensor:
        return torch.randn(dim, b, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)

    first = random_block(block)
    if start is not None:
        first[:, : start.shape[1]] = start.to(device=device, dtype=dtype)[:, :block]
    P = _orthonormal_new(first, None, random_block)
    basis, images, last = P, apply(P), block
    H = basis.T @ images
    best, stalled = float("inf"), 0
    while True:
        H = (H + H.T) / 2
        theta, S = torch.linalg.eigh(H)
        theta, S = theta.flip(0), S.flip(1)
        c = min(count + 1, basis.shape[1])
        Z = basis @ S[:, :c]
        R = images @ S[:, :c] - Z * theta[:c]
        res = torch.linalg.vector_norm(R, dim=0)
        bound = float(gap_bounds(theta[:c].cpu(), res.cpu(), min(want, c)).max())
        size = basis.shape[1]
        if bound <= _TARGET or size >= limit:
            break
        if bound < best / 2:
            best, stalled = bound, 0
        else:
            stalled += 1
        if stalled >= _STALL_STEPS and bound <= _ACCEPTABLE:
            break  # at the rounding floor: more basis will not help
        # Next block: the operator applied to the newest block, orthogonalised against the whole basis.
        step = min(block, limit - size)
        new = _orthonormal_new(images[:, -last:][:, :step], basis, random_block)
        new_images = apply(new)
        cross = basis.T @ new_images
        H = torch.cat([torch.cat([H, cross], dim=1), torch.cat([cross.T, new.T @ new_images], dim=1)], dim=0)
        basis = torch.cat([basis, new], dim=1)
        images = torch.cat([images, new_images], dim=1)
        last = step
    k = min(count, c)
    return EigenPairs(values=theta[:k].clamp_min(0), vectors=Z[:, :k], residuals=res[:k], bound=bound,
                      basis_size=basis.shape[1])


def _orthonormal_new(X: torch.Tensor, basis: torch.Tensor | None,
                     random_block: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """Orthonormal columns spanning X minus the basis; directions lost to cancellation become random ones."""
    b = X.shape[1]
    ref = float(torch.linalg.vector_norm(X, dim=0).max())
    X = _project_out(X, basis)
    Q, s, _ = torch.linalg.svd(X, full_matrices=False)
    keep = int((s > 1e-10 * ref).sum()) if ref > 0 else 0
    Q = Q[:, :keep]
    if keep < b:  # invariant subspace found (or X was zero): continue with fresh random directions
        R = _project_out(_project_out(random_block(b - keep), basis), Q)
        Q = torch.cat([Q, torch.linalg.qr(R)[0]], dim=1)
    Q = _project_out(Q, basis)
    return torch.linalg.qr(Q)[0]


def _project_out(X: torch.Tensor, basis: torch.Tensor | None) -> torch.Tensor:
    """X minus its component in span(basis) (orthonormal columns), applied twice for stability.

    Written on Xᵀ, so both products stream the (row-major) basis in its stored order (~1.7× faster).
    """
    if basis is None or basis.shape[1] == 0:
        return X
    Xt = X.T
    for _ in range(2):
        Xt = Xt - (Xt @ basis) @ basis.T
    return Xt.T
