"""Dense float64 factorisation helpers: full SVDs, the smaller Gram matrix, and the top eigenpairs of a
symmetric matrix (what the cost model's "dense" paths decompose; see cost.py).

SVDs are always handed to LAPACK in the tall orientation. For a wide matrix (m < n) the SVD of Wᵀ is
the same factorisation with U and V swapped, and torch's CPU LAPACK path is 2–3× faster on it (measured
for 4096 × 11008: 118 s → 65 s on one core). The reference uses the same orientation, so exact paths
reproduce it bit for bit.
"""

from __future__ import annotations

import torch


def svd64(W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin float64 SVD W = U diag(S) Vh: U (m, p), S (p,) descending, Vh (p, n)."""
    W = W.detach().to(torch.float64)
    if W.shape[0] < W.shape[1]:
        V, S, Uh = torch.linalg.svd(W.T, full_matrices=False)
        return Uh.T, S, V.T
    return torch.linalg.svd(W, full_matrices=False)


_SYRK_FROM = 512  # smaller Gram matrices: the plain product, whose call overhead is lower


def gram_lower(D: torch.Tensor) -> torch.Tensor:
    """The smaller Gram matrix of float64 D (D Dᵀ if m ≤ n, else DᵀD); only its lower triangle is certain.

    Large contiguous CPU matrices go to BLAS syrk, which computes that triangle alone: half the flops of the
    product, 0.7–0.9 s against 1.4 s for 4096 × 4096 on 2 cores. The result is then in Fortran order
    (`.numpy()` gives LAPACK's layout without a copy), and LAPACK's symmetric eigensolvers read the lower
    triangle ~10 % faster than the upper. Pass UPLO="L" (torch's default) or lower=True (scipy's).
    """
    m, n = D.shape
    if D.device.type != "cpu" or min(m, n) < _SYRK_FROM or not D.is_contiguous():
        return D @ D.T if m <= n else D.T @ D
    from scipy.linalg.blas import dsyrk

    # D.numpy().T is Dᵀ in Fortran order (no copy); trans=1 gives (Dᵀ)ᵀDᵀ = D Dᵀ, trans=0 gives Dᵀ D.
    return torch.from_numpy(dsyrk(1.0, D.numpy().T, trans=1 if m <= n else 0, lower=1))


def top_eigh(M: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `count` largest eigenpairs of the symmetric float64 M (lower triangle read), largest first.

    On the CPU, LAPACK's syevr for that index range: the tridiagonal reduction (4/3·d³ flops) and `count`
    vectors, not all d (measured, 576 × 576 on one core: 38–50 ms against 130 ms for every vector by syevd).
    Elsewhere, torch's eigh of the whole matrix, sliced.
    """
    d = M.shape[0]
    count = min(count, d)
    if M.device.type == "cpu":
        import scipy.linalg

        values, vectors = scipy.linalg.eigh(M.numpy(), lower=True, driver="evr", check_finite=False,
                                            subset_by_index=[d - count, d - 1])
        return torch.from_numpy(values).flip(0), torch.from_numpy(vectors).flip(1)
    values, vectors = torch.linalg.eigh(M, UPLO="L")
    return values[d - count:].flip(0), vectors[:, d - count:].flip(1)
