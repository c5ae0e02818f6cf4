"""The top-k left singular vectors of W_tuned without a full SVD, each checked before it is returned.

Paths ("solver" of the result); cost.py chooses between the dense and the iterative one of each pair from
the shape and rank (solver="dense" / "iterative" force one, for tests and measurements):
- "lowrank" / "lowrank-dense": a LowRankUpdate with the base spectrum known. In the orthonormal basis
  Q = [U0, Q⊥] (Q⊥ spans the part of B outside span(U0)), W_t W_tᵀ is diag(S0²) plus a rank ≤ 2r
  correction: its top eigenpairs come from block Krylov with O((p + q)·r) products ("lowrank"), or from a
  dense eigendecomposition of that (p + q)-dimensional matrix ("lowrank-dense"); u = Q z.
- "krylov" / "dense": block Krylov on W_t W_tᵀ (or W_tᵀ W_t, the smaller side) through the products
  x ↦ W_t x, y ↦ W_tᵀ y, a LowRankUpdate kept factored ("krylov"); or the top eigenvectors of W_t's
  smaller float64 Gram matrix ("dense"). A Krylov run that has not converged within the cost of the
  dense path hands over to it.
- "exact": a float64 full SVD (asked for, or the matrix is too small for the rest to pay off).
- "exact-fallback": the check below failed, so the float64 full SVD was used after all.

The check: a two-sided Rayleigh–Ritz step with the real W_t gives residuals ‖W_t v − σu‖, ‖W_tᵀu − σv‖;
residual/gap to the neighbouring singular values bounds the angle error of each vector (Wedin,
Davis–Kahan). If any of the k bounds exceeds 1e-4, the vectors are not trusted.
Everything is float64 on the device of W0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch

from lorascope.errors import InputError
from lorascope.spectral._validate import check_k, check_matrix, check_tuned
from lorascope.spectral.basis import BaseSpectrum
from lorascope.spectral.cost import plan_dense_matrix, plan_projected
from lorascope.spectral.dense import gram_lower, svd64, top_eigh
from lorascope.spectral.krylov import gap_bounds, top_eigenpairs
from lorascope.spectral.operator import TunedOperator, aligned_columns, thin_mm, thin_tmm, tuned_operator
from lorascope.spectral.update import Tuned
from lorascope.spectral.workspace import Workspace, upcast

TRUST = 1e-4  # largest accepted angle-error bound of a returned vector
_SEED = 0
_LOWRANK_EXTRA = 2  # vectors past k in the structured path's block (measured: 105 ms per 4096² matrix, 130 at 10)
_DENSE_EXTRA = 2  # vectors past k from a dense eigendecomposition: its vectors are accurate, so σ_{k+1} suffices
Solver = Literal["auto", "exact", "dense", "iterative"]


@dataclass(frozen=True)
class TopSingular:
    """Top-k singular pairs of W_tuned (float64) and how far they can be trusted.

    max_residual: max over the k pairs of √(‖W_t v − σu‖² + ‖W_tᵀu − σv‖²) / σ₁.
    gap: (σ_k − σ_{k+1}) / σ₁ (σ_{k+1} = 0 when k = p); error_bound: max residual/gap angle bound.
    """

    U: torch.Tensor  # (m, k)
    S: torch.Tensor  # (k,)
    solver: str
    max_residual: float
    gap: float
    error_bound: float = 0.0
    # "lowrank" only: U's coordinates in the base basis, U0ᵀU (p, k), known from the projected problem, so
    # the cosines need no further pass over U0. Exact up to how far the stored U0 is from orthonormal.
    in_base: torch.Tensor | None = None


def top_singular(W0: torch.Tensor, tuned: Tuned, k: int, *, base: BaseSpectrum | None = None,
                 oversample: int = 10, solver: Solver = "auto",
                 workspace: Workspace | None = None) -> TopSingular:
    """The k largest singular values of W_tuned and their left vectors, in decreasing order.

    solver: "auto" (the cost model's choice), "exact" (float64 full SVD), or "dense" / "iterative" to force
    one kind of path. `workspace` holds the float64 copies of the big matrices between calls (workspace.py).
    """
    check_matrix(W0, "W0")
    check_tuned(W0, tuned)
    m, n = W0.shape
    p = min(m, n)
    check_k(k, p)
    if isinstance(oversample, bool) or not isinstance(oversample, int) or oversample < 0:
        raise InputError(f"oversample must be an integer ≥ 0; got {oversample!r}")
    check_solver(solver)
    if base is not None and (tuple(base.U.shape) != (m, p) or tuple(base.S.shape) != (p,)):
        raise InputError(f"base spectrum has U {tuple(base.U.shape)}, S {tuple(base.S.shape)}; "
                         f"W0 {(m, n)} needs ({m}, {p}) and ({p},)")
    return solve_top(W0, tuned, k, base=base, oversample=oversample, solver=solver, workspace=workspace)


def check_solver(solver: object) -> None:
    """One of "auto", "exact", "dense", "iterative"; InputError otherwise."""
    if solver not in ("auto", "exact", "dense", "iterative"):
        raise InputError(f"solver must be 'auto', 'exact', 'dense' or 'iterative'; got {solver!r}")


def solve_top(W0: torch.Tensor, tuned: Tuned, k: int, *, base: BaseSpectrum | None = None,
              oversample: int = 10, solver: Solver = "auto",
              workspace: Workspace | None = None) -> TopSingular:
    """top_singular without its input checks, for callers that have validated the same tensors already.

    (A finiteness check reads every element: on a 4096² matrix each costs about as much as a Krylov step.)
    """
    op = tuned_operator(W0, tuned, workspace)
    p = min(op.shape)
    count = min(p, k + max(oversample, 1))
    if solver == "exact" or 2 * count >= p:
        return exact_top(op, k, "exact")
    count = min(p, aligned_columns(count))
    tried, start = [], None
    if op.factored and base is not None and op.B.shape[1] <= p // 2:
        # The projected problem is cheap to iterate, so a small block (fewer columns in every product) wins.
        found, block = _structured(op, base, min(count, aligned_columns(k + _LOWRANK_EXTRA)), k, solver, workspace)
        tried.append(found)
        if found.error_bound <= TRUST:
            # Measured on the benchmark's adapters: bounds ~1e-5 from the float32-stored base, while the vectors
            # agree with a Krylov polish to 1e-15 in |cos|; the bound is the guard, polishing below it buys nothing.
            return found
        start = block  # not trusted (e.g. an ill-conditioned base): polish on the real W_t
    elif base is not None:
        # A full fine-tune moves W0's top vectors a little: they start half the block. The other half stays
        # random, so a new direction absent from W0's top (an intruder) is still found as from a random start.
        start = base.U[:, : max(1, count // 2)].to(device=op.W.device, dtype=torch.float64)
    tried.extend(_general(op, count, k, start, solver))
    best = min(tried, key=lambda t: t.error_bound)
    return best if best.error_bound <= TRUST else exact_top(op, k, "exact-fallback")


def _general(op: TunedOperator, count: int, k: int, start: torch.Tensor | None, solver: Solver) -> list[TopSingular]:
    """W_t's top k by Krylov on the real W_t ("krylov") or its Gram matrix ("dense"), as cost.py decides.

    A Krylov run gets the dense path's estimated cost as its budget: if its bound is not below TRUST by then,
    or the check fails, the dense path takes over (unless solver="iterative"). Returns every checked attempt.
    """
    m, n = op.shape
    plan = plan_dense_matrix(m, n, count, op.B.shape[1] if op.factored else 0)
    tried: list[TopSingular] = []
    if solver == "iterative" or (solver == "auto" and plan.path == "iterative"):
        block, bound = _krylov_block(op, count, k, start, plan.max_basis if solver == "auto" else None)
        if bound <= TRUST or solver == "iterative":
            tried.append(_checked(op, block, k, "krylov"))
            if tried[-1].error_bound <= TRUST or solver == "iterative":
                return tried
    c = min(count, aligned_columns(k + _DENSE_EXTRA))
    tried.append(_checked(op, _dense_block(op, c), k, "dense"))
    return tried


def _dense_block(op: TunedOperator, count: int) -> torch.Tensor:
    """Orthonormal (m, count) block: W_t's top left singular vectors from its smaller float64 Gram matrix.

    Wide W_t: the top eigenvectors of W_t W_tᵀ are the left vectors; tall: those of W_tᵀ W_t are the right
    ones, and W_t V spans the left. Accurate to eps·σ₁²/(σ_j² − σ_{j+1}²), then refined by the check's
    Rayleigh–Ritz step with W_t itself.
    """
    W = op.dense()
    m, n = W.shape
    _, E = top_eigh(gram_lower(W), count)
    if m <= n:
        return E
    return torch.linalg.qr(thin_mm(W, E))[0]


def exact_top(op: TunedOperator, k: int, label: str) -> TopSingular:
    """Top k from a float64 full SVD of the dense W_tuned, with the same residual/gap report."""
    W = op.dense()
    U, S, Vh = svd64(W)
    p = S.numel()
    c = min(k + 1, p)
    V = Vh[:c].T
    res = _pair_residuals(thin_mm(W, V) - U[:, :c] * S[:c], thin_tmm(W, U[:, :c]) - V * S[:c])
    return _report(U[:, :k], S[:c], res, k, p, label)


def _checked(op: TunedOperator, block: torch.Tensor, k: int, label: str,
             coords: torch.Tensor | None = None) -> TopSingular:
    """Rayleigh–Ritz of W_t on span(block) (orthonormal, m × c), with residuals and bounds.

    `coords` (p, c): block's coordinates in the base basis, carried over to the Ritz vectors.
    """
    Z = op.rmatmul(block)  # W_tᵀ Q = V diag(σ) Gᵀ for the Ritz pairs (Q G, σ, V)
    V, s, Gt = torch.linalg.svd(Z, full_matrices=False)
    U = block @ Gt.T
    res = _pair_residuals(op.matmul(V) - U * s, Z @ Gt.T - V * s)
    found = _report(U[:, :k], s, res, k, min(op.shape), label)
    if coords is None:
        return found
    return replace(found, in_base=coords @ Gt[:k].T)


def _report(U: torch.Tensor, S: torch.Tensor, res: torch.Tensor, k: int, p: int, label: str) -> TopSingular:
    """Package the first k pairs; S and res cover σ_{k+1} too when k < p, for the gap and the bounds."""
    s1 = float(S[0])
    if not s1 > 0:  # W_t = 0: the SVD picks an arbitrary basis; nothing to bound
        return TopSingular(U=U, S=S[:k], solver=label, max_residual=0.0, gap=0.0,
                           error_bound=0.0 if label.startswith("exact") else math.inf)
    next_sigma = float(S[k]) if k < S.numel() else 0.0  # every path computes σ_{k+1} when k < p
    bounds = gap_bounds(S.cpu(), res.cpu(), k)
    return TopSingular(U=U, S=S[:k].clone(), solver=label, max_residual=float(res[:k].max()) / s1,
                       gap=(float(S[k - 1]) - next_sigma) / s1, error_bound=float(bounds.max()))


def _pair_residuals(R1: torch.Tensor, R2: torch.Tensor) -> torch.Tensor:
    """√(‖W_t v − σu‖² + ‖W_tᵀu − σv‖²) per pair: the residual in Wedin's sin θ bound."""
    return torch.sqrt(torch.linalg.vector_norm(R1, dim=0) ** 2 + torch.linalg.vector_norm(R2, dim=0) ** 2)


def _krylov_block(op: TunedOperator, count: int, k: int, start: torch.Tensor | None,
                  max_basis: int | None = None) -> tuple[torch.Tensor, float]:
    """Orthonormal (m, count) block spanning the approximate top left singular space of W_t, and the Krylov
    bound reached (max residual/gap of the wanted pairs; above TRUST when `max_basis` cut the run short)."""
    m, n = op.shape
    device = op.W.device
    if m <= n:
        eig = top_eigenpairs(lambda X: op.matmul(op.rmatmul(X)), m, count, k, device=device, seed=_SEED,
                             start=start, max_basis=max_basis)
        return eig.vectors, eig.bound
    seed_block = None if start is None else op.rmatmul(start)
    eig = top_eigenpairs(lambda X: op.rmatmul(op.matmul(X)), n, count, k, device=device, seed=_SEED,
                         start=seed_block, max_basis=max_basis)
    return torch.linalg.qr(op.matmul(eig.vectors))[0], eig.bound


_IMPLICIT_FROM = 1e-3  # smallest eigenvalue of the complement's Gram matrix, relative to ‖B‖², for the implicit path


def _implicit_complement(B: torch.Tensor, Yb: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(T, QpᵀB) with Qp = (B − U0 Yb) T orthonormal and ⊥ U0, from the r × r Gram matrix C = BᵀB − YbᵀYb
    (then QpᵀB = Tᵀ C); None if unsafe.

    Forming B − U0 Yb and re-orthogonalising it costs three passes over U0 (m × p): ~100 ms of a ~350 ms
    11008 × 4096 solve. The Gram route needs none. Its error is the stored U0's departure from
    orthonormality (‖(U0ᵀU0 − I)x‖ ~2e-8 for float32 storage) amplified by ‖B‖²/σ_min(B − U0 Yb)², so it is
    taken only when that amplification is at most 1/_IMPLICIT_FROM; B nearly inside span(U0), or
    ill-conditioned, takes the explicit path. Either way the Rayleigh–Ritz check with the real W_t guards
    the result (measured on the benchmark's adapters: the same bounds and cosines to 1e-9 as the explicit
    path).
    """
    if B.shape[1] == 0:
        return None
    BtB = B.T @ B
    C = BtB - Yb.T @ Yb
    lam, V = torch.linalg.eigh((C + C.T) / 2)
    top = float(torch.linalg.eigvalsh(BtB)[-1])
    if not top > 0 or not float(lam[0]) >= _IMPLICIT_FROM * top:
        return None
    T = V / lam.sqrt()
    return T, T.T @ C


@dataclass(frozen=True)
class _Projected:
    """W_t W_tᵀ in the basis [U0, Qp] of span(U0) + span(B): diag(S0²) + s(Xt Yᵀ + Y Xtᵀ) + s² Y (A Aᵀ) Yᵀ.

    Either Qp is explicit, or (tall, B well outside span(U0)) implicit: Qp = (B − U0 Yb) T.
    """

    U0: torch.Tensor  # (m, p) float64
    B: torch.Tensor
    diag: torch.Tensor  # (d,)
    Xt: torch.Tensor  # (d, r)
    Y: torch.Tensor  # (d, r)
    G: torch.Tensor  # (r, r) = A Aᵀ
    scale: float
    Qp: torch.Tensor | None = None
    T: torch.Tensor | None = None
    Yb: torch.Tensor | None = None

    @property
    def dim(self) -> int:
        return self.Y.shape[0]

    def apply(self, Z: torch.Tensor) -> torch.Tensor:
        s, Y, Xt = self.scale, self.Y, self.Xt
        YtZ = Y.T @ Z
        return self.diag[:, None] * Z + s * (Xt @ YtZ + Y @ (Xt.T @ Z)) + (s * s) * (Y @ (self.G @ YtZ))

    def dense(self) -> torch.Tensor:
        """The d × d matrix itself: L C Lᵀ + diag with L = [Xt, Y], C = [[0, sI], [sI, s²G]] (one product,
        4·d²·r flops; three separate d × d terms took 28 ms at d = 576, this ~3)."""
        s, r = self.scale, self.Xt.shape[1]
        eye = s * torch.eye(r, dtype=self.G.dtype, device=self.G.device)
        C = torch.cat([torch.cat([torch.zeros_like(eye), eye], dim=1), torch.cat([eye, (s * s) * self.G], dim=1)])
        L = torch.cat([self.Xt, self.Y], dim=1)
        M = (L @ C) @ L.T
        M.diagonal().add_(self.diag)
        return M

    def start(self, count: int) -> torch.Tensor:
        """Krylov start where the answer lies: W0's top directions (unit vectors here) and the update's span."""
        half = count // 2
        return torch.cat([torch.eye(self.dim, half, dtype=torch.float64, device=self.Y.device),
                          torch.linalg.qr(torch.cat([self.Xt, self.Y], dim=1))[0][:, : count - half]], dim=1)

    def block(self, Z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eigenvectors Z (d, c) as an orthonormal (m, c) block, and that block's coordinates in U0 (p, c)."""
        p = self.U0.shape[1]
        if self.T is not None:  # U0 z + (B − U0 Yb) T w = U0 (z − Yb T w) + B T w: one pass over U0, Qp never formed
            Tw = self.T @ Z[p:]
            block = thin_mm(self.U0, Z[:p] - self.Yb @ Tw) + self.B @ Tw
        else:
            block = thin_mm(self.U0, Z[:p])
            if self.Qp is not None and self.Qp.shape[1]:
                block = block + self.Qp @ Z[p:]
        Q, R = torch.linalg.qr(block)  # block = Q R, so Q's coordinates are those of block times R⁻¹
        return Q, torch.linalg.solve_triangular(R, Z[:p], upper=True, left=False)


def _projected(op: TunedOperator, base: BaseSpectrum, workspace: Workspace | None) -> _Projected:
    """The (p + q)-dimensional problem whose top eigenvectors give W0 + s·B A's top left singular vectors."""
    W0, B, A, s = op.W, op.B, op.A, op.scale
    m, n = W0.shape
    p = min(m, n)
    # float64 products: float32 ones (as precise as an indexed U0's stored values) leave residuals ~1e-6,
    # which a near-degenerate pair's gap turns into bounds above TRUST, and then Krylov must polish.
    U0 = upcast(base.U, "U0", workspace, W0.device)
    S0 = base.S.to(device=W0.device, dtype=torch.float64)
    r = A.shape[0]
    # One pass over U0 for both: W0 Aᵀ in the U0 coordinates (it has no component outside span U0), and B's.
    XY = thin_tmm(U0, torch.cat([thin_mm(W0, A.T), B], dim=1))
    X, Yb = XY[:, :r], XY[:, r:]
    T = Qp = None
    if m > p:  # U0 does not span R^m: add the part of B outside it
        implicit = _implicit_complement(B, Yb)
        if implicit is not None:
            T, QpB = implicit
            Y = torch.cat([Yb, QpB])
            Xt = torch.cat([X, X.new_zeros(T.shape[1], X.shape[1])])
        else:
            Bp = B - thin_mm(U0, Yb)
            Bp = Bp - thin_mm(U0, thin_tmm(U0, Bp))
            Qp, sv, _ = torch.linalg.svd(Bp, full_matrices=False)
            ref = float(torch.linalg.matrix_norm(B, ord=2)) if B.numel() else 0.0
            kept = int((sv > 1e-12 * ref).sum()) if ref > 0 else 0
            Qp = Qp[:, :kept]
            # Bp's leftover U0 part (~eps·‖B‖) grows by ‖B‖/σ in Qp's column for σ: only tiny σ need one more pass.
            if kept and float(sv[kept - 1]) < 1e-6 * ref:
                Qp = torch.linalg.qr(Qp - thin_mm(U0, thin_tmm(U0, Qp)))[0]
            Y = torch.cat([Yb, Qp.T @ B])
            Xt = torch.cat([X, X.new_zeros(Qp.shape[1], X.shape[1])])
    else:
        Y, Xt = Yb, X
    diag = torch.cat([S0**2, S0.new_zeros(Y.shape[0] - p)])
    return _Projected(U0=U0, B=B, diag=diag, Xt=Xt, Y=Y, G=A @ A.T, scale=s, Qp=Qp, T=T, Yb=Yb)


def _structured(op: TunedOperator, base: BaseSpectrum, count: int, k: int, solver: Solver,
                workspace: Workspace | None) -> tuple[TopSingular, torch.Tensor]:
    """The checked top k of W0 + s·B A from the projected problem ("lowrank" or "lowrank-dense"), and the block.

    As in _general, a Krylov run on the projected problem is budgeted at the dense path's cost and hands over.
    """
    problem = _projected(op, base, workspace)
    d, r = problem.dim, op.A.shape[0]
    plan = plan_projected(d, r, count)
    vectors = None
    if solver == "iterative" or (solver == "auto" and plan.path == "iterative"):
        eig = top_eigenpairs(problem.apply, d, count, k, device=op.W.device, seed=_SEED, start=problem.start(count),
                             max_basis=plan.max_basis if solver == "auto" else None)
        if eig.bound <= TRUST or solver == "iterative":
            vectors, label = eig.vectors, "lowrank"
    if vectors is None:
        vectors, label = top_eigh(problem.dense(), count)[1], "lowrank-dense"
    block, coords = problem.block(vectors)
    return _checked(op, block, k, label, coords), block
