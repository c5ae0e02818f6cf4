"""dense.py: the float64 SVD handed to LAPACK in the tall orientation is the same factorisation."""

from __future__ import annotations

import pytest
import torch
from spectral_cases import F64, gen

from lorascope.spectral.dense import svd64


@pytest.mark.parametrize(("m", "n"), [(40, 90), (90, 40), (50, 50)])
def test_svd64_is_a_thin_svd_in_either_orientation(m, n):
    W = torch.randn(m, n, generator=gen(m * n)).to(torch.bfloat16)
    U, S, Vh = svd64(W)
    p = min(m, n)
    assert U.shape == (m, p) and S.shape == (p,) and Vh.shape == (p, n) and U.dtype == F64
    assert torch.allclose(U @ torch.diag(S) @ Vh, W.to(F64), atol=1e-12)
    assert torch.allclose(U.T @ U, torch.eye(p, dtype=F64), atol=1e-12)
    assert torch.allclose(Vh @ Vh.T, torch.eye(p, dtype=F64), atol=1e-12)
    assert torch.all(S[:-1] >= S[1:])
    assert torch.allclose(S, torch.linalg.svdvals(W.to(F64)), rtol=1e-12)
