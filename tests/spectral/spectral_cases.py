"""Seeded test matrices for the spectral room: chosen spectra, clusters, low-rank updates, planted intruders.

Imported by the test files as a plain module (pytest puts this folder on sys.path).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lorascope.spectral.update import LowRankUpdate

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def orthonormal(rows: int, cols: int, g: torch.Generator) -> torch.Tensor:
    """rows × cols with orthonormal columns, Haar-like."""
    return torch.linalg.qr(torch.randn(rows, cols, generator=g, dtype=F64))[0]


def with_spectrum(m: int, n: int, s: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """U diag(s) Vᵀ with random orthonormal U (m, p), V (n, p); s need not be sorted."""
    p = min(m, n)
    return orthonormal(m, p, g) @ torch.diag(s.to(F64)) @ orthonormal(n, p, g).T


def decaying(p: int, ratio: float = 0.97) -> torch.Tensor:
    return ratio ** torch.arange(p, dtype=F64)


def clustered(p: int, rel_gap: float, ratio: float = 0.97, every: int = 5) -> torch.Tensor:
    """A decaying spectrum where every `every`-th value gets a twin at relative distance `rel_gap`."""
    s = decaying(p, ratio)
    for i in range(0, p - 1, every):
        s[i + 1] = s[i] * (1 - rel_gap)
    return s


def with_tail(p: int, tail_from: int, tail: float = 1e-9) -> torch.Tensor:
    """Decaying head, then values around `tail`·σ₁ (hard for a Gram matrix)."""
    s = decaying(p)
    s[tail_from:] = tail * (1 + torch.linspace(0, 1, p - tail_from, dtype=F64))
    return s


def low_rank(m: int, n: int, r: int, scale: float, g: torch.Generator, dtype=torch.float32) -> LowRankUpdate:
    B = torch.randn(m, r, generator=g, dtype=F64)
    A = torch.randn(r, n, generator=g, dtype=F64) / n**0.5
    return LowRankUpdate(B.to(dtype), A.to(dtype), scale)


def merged(W0: torch.Tensor, tuned) -> torch.Tensor:
    """The dense float64 W_tuned handed to the reference."""
    if isinstance(tuned, LowRankUpdate):
        return W0.to(F64) + tuned.dense(F64)
    return tuned.to(F64)


@dataclass(frozen=True)
class Case:
    name: str
    W0: torch.Tensor
    tuned: torch.Tensor | LowRankUpdate
    k: int = 10


def random_cases() -> list[Case]:
    """Many small matrices: low-rank updates of several ranks/scales, tall/wide, clusters, dense updates.

    Built at collection time, so on one torch thread like the tests themselves (see conftest.py).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _random_cases()
    finally:
        torch.set_num_threads(before)


def _random_cases() -> list[Case]:
    cases = []
    seed = 100
    for m, n in [(120, 200), (200, 120), (150, 150), (64, 260), (260, 64)]:
        for r, scale in [(1, 4.0), (4, 1.0), (16, 0.3), (8, 0.05)]:
            seed += 1
            g = gen(seed)
            W0 = torch.randn(m, n, generator=g, dtype=F64) / n**0.5
            cases.append(Case(f"gauss{m}x{n}-r{r}-s{scale}", W0.float(), low_rank(m, n, r, scale, g)))
        seed += 1
        g = gen(seed)
        p = min(m, n)
        for rel_gap in (1e-3, 1e-4, 1e-5, 1e-6):
            W0 = with_spectrum(m, n, clustered(p, rel_gap), g)
            cases.append(Case(f"cluster{rel_gap:g}-{m}x{n}", W0, low_rank(m, n, 2, 0.5, g, dtype=F64)))
        W0 = with_spectrum(m, n, decaying(p), g)
        noise = torch.randn(m, n, generator=g, dtype=F64) * 0.02 / n**0.5
        cases.append(Case(f"dense-ft-{m}x{n}", W0, W0 + noise))
        # Tuned matrix whose own top spectrum has near-degenerate pairs (the solver must resolve them).
        Wt = with_spectrum(m, n, clustered(p, 1e-6, ratio=0.9, every=3), g)
        W0 = Wt + 0.3 * torch.randn(m, n, generator=g, dtype=F64) / n**0.5
        cases.append(Case(f"tuned-cluster-{m}x{n}", W0, Wt))
        # Low-rank update that leaves W0's clustered head exactly in place and lands among it.
        for rel_gap in (1e-4, 1e-6):
            U0, V0 = orthonormal(m, p, g), orthonormal(n, p, g)
            W0 = U0 @ torch.diag(clustered(p, rel_gap, ratio=0.9, every=3)) @ V0.T
            h = 20
            B = torch.randn(m, 2, generator=g, dtype=F64)
            A = torch.randn(2, n, generator=g, dtype=F64)
            B = B - U0[:, :h] @ (U0[:, :h].T @ B)
            A = A - (A @ V0[:, :h]) @ V0[:, :h].T
            B = B / torch.linalg.matrix_norm(B, ord=2)
            A = A / torch.linalg.matrix_norm(A, ord=2)
            cases.append(Case(f"keeps-cluster{rel_gap:g}-{m}x{n}", W0, LowRankUpdate(B, A, 0.55)))
    return cases


def planted(m: int, n: int, ranks: list[int], seed: int,
            head: int = 30) -> tuple[torch.Tensor, LowRankUpdate]:
    """W0 with a decaying head and a tiny tail, plus orthogonal outer products that land at `ranks`.

    Each planted left vector mixes 8 tail vectors of W0 with equal weights (|cos| = 1/√8 ≈ 0.354 to each),
    so it is an intruder for ε > 0.354 and nothing else in the top ranks is.
    """
    g = gen(seed)
    p = min(m, n)
    U, V = orthonormal(m, p, g), orthonormal(n, p, g)
    s = 1e-3 * (1 + torch.linspace(1, 0, p, dtype=F64))  # distinct tail values: a well-defined base basis
    s[:head] = 10 * 0.85 ** torch.arange(head, dtype=F64)
    W0 = U @ torch.diag(s) @ V.T
    # Final spectrum: walk the ranks, inserting a planted value between its neighbours.
    values, h = [], 0
    for j in range(max(ranks) + 1):
        upper = values[-1] if values else 2 * float(s[0])
        if j in ranks:
            values.append((upper * float(s[h])) ** 0.5)
        else:
            values.append(float(s[h]))
            h += 1
    H = _hadamard8() / 8**0.5
    group = slice(p - 8, p)
    lam = torch.tensor([values[j] for j in ranks], dtype=F64)
    B = U[:, group] @ H[:, : len(ranks)] * lam
    A = (V[:, group] @ H[:, : len(ranks)]).T
    return W0, LowRankUpdate(B, A, 1.0)


def _hadamard8() -> torch.Tensor:
    h = torch.ones(1, 1, dtype=F64)
    for _ in range(3):
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h
