"""The intruder test on singular vectors: max |cos| to the base basis, thresholds, counts and maps.

Cosines are computed in float64 (or float32 if both inputs are float32) after normalising columns,
so a basis stored in lower precision still yields cosines; |cos| because singular-vector signs are arbitrary.
max_cos works in the base's precision (float32 for an indexed base: rounding ~1e-7, far below its use).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from lorascope.errors import InputError
from lorascope.spectral.operator import aligned_columns


def _working_dtype(*ts: torch.Tensor) -> torch.dtype:
    return torch.float32 if all(t.dtype == torch.float32 for t in ts) else torch.float64


_ROWS = 128  # rows per chunk of a column-norm accumulation


def _safe_norms(U: torch.Tensor) -> torch.Tensor:
    """Column norms, with 1 for zero columns (so dividing by them leaves those columns zero).

    A row-major U is summed in chunks of rows: a strided column reduction over a 4096² basis took 60 ms,
    the chunks take 4 ms (and accumulate in fewer roundings).
    """
    if U.stride(0) == 1 or U.shape[0] <= _ROWS:  # column-major or small: the plain reduction is fast
        norms = torch.linalg.vector_norm(U, dim=0)
    else:
        squares = torch.zeros(U.shape[1], dtype=U.dtype, device=U.device)
        for start in range(0, U.shape[0], _ROWS):
            chunk = U[start:start + _ROWS]
            squares += (chunk * chunk).sum(dim=0)
        norms = squares.sqrt()
    return torch.where(norms > 0, norms, torch.ones_like(norms))


def _unit_columns(U: torch.Tensor, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    U = U.detach().to(device=device, dtype=dtype)
    return U / _safe_norms(U)


def _check_sets(U_a: torch.Tensor, U_b: torch.Tensor) -> None:
    if U_a.ndim != 2 or U_b.ndim != 2 or U_a.shape[0] != U_b.shape[0]:
        raise InputError(f"vector sets must be (m, ·) with the same m; "
                         f"got {tuple(U_a.shape)} and {tuple(U_b.shape)}")


def abs_cos(U_a: torch.Tensor, U_b: torch.Tensor) -> torch.Tensor:
    """|cos| between every column of U_a (m, a) and every column of U_b (m, b): an (a, b) matrix."""
    _check_sets(U_a, U_b)
    dtype, device = _working_dtype(U_a, U_b), U_b.device
    return (_unit_columns(U_a, dtype, device).T @ _unit_columns(U_b, dtype, device)).abs()


def max_cos(U_top: torch.Tensor, U_base: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per tuned vector (column of U_top), the largest |cos| to any base vector and that base index.

    All columns of U_base count, not just its top ones. Ties go to the lowest base index.
    """
    _check_sets(U_top, U_base)
    dtype = U_base.dtype if U_base.dtype in (torch.float32, torch.float64) else torch.float64
    base = U_base.detach().to(dtype)
    top = U_top.detach().to(device=base.device, dtype=dtype)
    # Normalise the (k, p) product, not the (m, p) basis: one pass over the basis instead of a copy of it.
    norms = torch.outer(_safe_norms(top), _safe_norms(base))
    k = top.shape[1]
    padded = torch.cat([top, top.new_zeros(top.shape[0], aligned_columns(k) - k)], dim=1)  # ~1.4× faster product
    return ((padded.T @ base)[:k].abs() / norms).max(dim=1)


def intruder_mask(max_cos: torch.Tensor, epsilon: float) -> torch.Tensor:
    """True where a tuned vector is an intruder: max |cos| strictly below epsilon."""
    return max_cos < epsilon


def counts_over_epsilon(max_cos_topk: torch.Tensor, epsilons: Sequence[float]) -> list[int]:
    """Number of intruders among the given vectors for each threshold (non-decreasing in epsilon)."""
    return [int((max_cos_topk < e).sum()) for e in epsilons]


def k_for_fraction(fraction: float, total: int) -> int:
    """k = ceil(fraction · total), at least 1; the product is rounded first so 0.1·30 gives 3, not 4."""
    if not 0 < fraction <= 1:
        raise InputError(f"k fraction must be in (0, 1]; got {fraction!r}")
    return min(total, max(1, math.ceil(round(fraction * total, 9))))


def counts_over_k_fraction(max_cos_all: torch.Tensor, fractions: Sequence[float],
                           epsilon: float) -> list[int]:
    """Intruders among the top ceil(f·N) tuned vectors per fraction f (N = len(max_cos_all), σ order)."""
    total = max_cos_all.numel()
    below = (max_cos_all < epsilon).to(torch.int64).cumsum(0)
    return [int(below[k_for_fraction(f, total) - 1]) for f in fractions]


def similarity_map(U_base: torch.Tensor, U_tuned: torch.Tensor, n: int) -> torch.Tensor:
    """(n, n) float32 map of |cos(base vector i, tuned vector j)|: rows base, columns tuned, top n of each."""
    if n < 1 or n > U_base.shape[1] or n > U_tuned.shape[1]:
        raise InputError(f"map size {n} must be in [1, {min(U_base.shape[1], U_tuned.shape[1])}]")
    return abs_cos(U_base[:, :n], U_tuned[:, :n]).to(torch.float32).cpu()
