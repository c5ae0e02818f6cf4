"""The cost model: find W_tuned's top-k by a dense eigendecomposition or by block Krylov, from shape and rank.

Both paths end in the same Rayleigh–Ritz check with the real W_t (topk.py), so they differ in time only.
Costs are counted in flops of a large float64 matrix product (the unit), with factors measured on this
project's CPU runs (1 thread, bench/scan_bench.py's spectra and Gaussian ones) for what runs slower:

- dense: the top `count` pairs of a d × d symmetric matrix (LAPACK syevr: the tridiagonal reduction,
  4/3·d³ flops, half of them matrix–vector, so _EIG·d³ in all), plus forming the matrix: a Gram matrix,
  p²·max(m, n) by syrk, or the projected problem's 6·d²·r;
- iterative: per block-Krylov step, the operator's products with the block (_THIN × their flops), and the
  thin work on the basis: re-orthogonalisation and Ritz vectors, ~16·d·basis·block flops that run far below
  the product rate (_BASIS per d·basis·block in all), plus a fixed _STEP (small LAPACK calls, Python).
  The number of steps is unknown before the run: 5–8 on bench/scan_bench.py's spiked spectra, 20+ (to the
  basis limit) on flat-topped ones such as SmolLM2's or a Gaussian matrix's. EXPECTED_STEPS sits between.

Dense is chosen when it costs less than EXPECTED_STEPS Krylov steps. Otherwise Krylov runs with a budget:
its basis may grow only while the run so far costs less than the dense path, then it hands over to the
dense path instead of iterating on (a flat top converges slowly, and the old basis limit followed by a
float64 SVD was the worst of both). Worst case, about twice the dense cost.

Measured crossover (1 thread, loaded machine; README, Performance): on spiked spectra dense wins below
p ≈ 500–700 for the adapter's projected problem and p ≈ 600–1000 for a square checkpoint's W_t; on flat
tops (Gaussian) dense wins at every size measured up to 1536–2048. The model switches to Krylov at
d = 768 (projected problem) and p = 1280 (square W_t), so SmolLM2 (576 / 1536) runs dense and 1B-class
(2048 / 5504) and LLaMA-7B iterative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

_EIG = 5.0  # d³ coefficient of a top-count symmetric eigendecomposition (measured: 576 → 0.1 s, 2048 → 4.6 s)
_THIN = 1.5  # the operator's products with a block of ≤ 24 columns, relative to a square product
_BASIS = 250.0  # per d·basis·block: re-orthogonalisation and Ritz vectors (thin products, ~1/15 of the rate)
_STEP = 1e7  # fixed flops-equivalent per Krylov step: eigh of the basis matrix, QR/SVD of the block, Python
EXPECTED_STEPS = 12  # Krylov steps assumed for the choice (spiked spectra 5–8, flat tops 20+)
_MIN_STEPS = 3  # a Krylov budget always allows this many steps


@dataclass(frozen=True)
class Plan:
    """The chosen path, both estimates (flops), and the Krylov basis allowed before handing over to dense."""

    path: Literal["dense", "iterative"]
    dense_cost: float
    iterative_cost: float
    max_basis: int


def krylov_cost(dim: int, block: int, apply_flops: float, steps: int) -> float:
    """Estimated flops of `steps` block-Krylov steps on a `dim`-dimensional operator."""
    total = 0.0
    for i in range(1, steps + 1):
        total += _THIN * apply_flops + _BASIS * dim * (i * block) * block + _STEP
    return total


def plan_top(dim: int, block: int, apply_flops: float, dense_setup: float, limit: int) -> Plan:
    """Dense or iterative for a top-`block` eigenproblem of dimension `dim`.

    apply_flops: one application of the operator to a `block`-column block; dense_setup: flops to form the
    dense d × d matrix; limit: the largest Krylov basis allowed at all.
    """
    dense = dense_setup + _EIG * float(dim) ** 3
    iterative = krylov_cost(dim, block, apply_flops, EXPECTED_STEPS)
    steps = _MIN_STEPS
    while (steps + 1) * block <= limit and krylov_cost(dim, block, apply_flops, steps + 1) <= dense:
        steps += 1
    return Plan("dense" if dense <= iterative else "iterative", dense, iterative, min(limit, steps * block))


def plan_dense_matrix(m: int, n: int, block: int, factored_rank: int = 0) -> Plan:
    """W_t's top `block` left vectors: its Gram matrix (p² · max(m, n) by syrk) and eigh, or Krylov on W_t Wᵀ_t.

    Krylov applies W_t and W_tᵀ per step (4·m·n·block flops, plus 4·(m + n)·r·block for a factored update);
    `limit` is krylov.top_eigenpairs' default basis cap.
    """
    p = min(m, n)
    setup = float(p) * p * max(m, n) + (2.0 * m * n * factored_rank if factored_rank else 0.0)
    apply = 4.0 * m * n * block + 4.0 * (m + n) * factored_rank * block
    return plan_top(p, block, apply, setup, min(p, max(24 * block, 240)))


def plan_projected(dim: int, rank: int, block: int) -> Plan:
    """The adapter's projected problem (diag(S0²) + a rank-2r term, d = p + q): dense eigh or Krylov."""
    setup = 6.0 * dim * dim * rank
    apply = 6.0 * dim * rank * block + 2.0 * dim * block
    return plan_top(dim, block, apply, setup, min(dim, max(24 * block, 240)))
