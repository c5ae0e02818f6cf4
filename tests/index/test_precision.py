"""The stored precision (float32 U, float64 S) changes no intruder decision against the float64 reference."""

from __future__ import annotations

import math

import torch

from index.builders import F64, decaying, orthonormal, with_spectrum
from lorascope.index import index_layout, read_entry, tensor_key, write_entry
from lorascope.spectral import BaseSpectrum, LowRankUpdate, analyze_matrix, base_spectrum, reference_intruders


def _through_the_index(tmp_path, W0: torch.Tensor) -> BaseSpectrum:
    """W0's spectrum written to an index entry and read back (what a warm scan gets)."""
    layout = index_layout(tmp_path / "cache")
    key = tensor_key(W0)
    write_entry(layout, key, base_spectrum(W0), source_sha256="")
    found = read_entry(layout, key)
    assert found.spectrum is not None and found.spectrum.U.dtype == torch.float32
    return found.spectrum


def _clustered(p: int, rel_gap: float, every: int = 4) -> torch.Tensor:
    s = 3 * decaying(p)
    for i in range(0, p - 1, every):
        s[i + 1] = s[i] * (1 - rel_gap)
    return s


def _cases():
    """Planted intruders at chosen strengths over decaying, near-degenerate and clustered spectra; tall and wide."""
    g = torch.Generator().manual_seed(5)
    for m, n, spectrum in ((160, 220, 3 * decaying(160)), (220, 160, _clustered(160, 1e-6)),
                           (200, 200, _clustered(200, 1e-9, every=3)), (180, 240, _clustered(180, 1e-3))):
        W0 = with_spectrum(m, n, spectrum, g).float()
        for strengths in ((8.0, 5.0), (3.2, 2.9, 0.5), (1.5, 1.0, 0.7, 0.2)):
            r = len(strengths)
            B = (orthonormal(m, r, g) * torch.tensor(strengths, dtype=F64)).float()
            A = orthonormal(n, r, g).T.float()
            yield W0, LowRankUpdate(B, A, 1.0)


def test_stored_spectrum_keeps_every_decision_of_the_reference(tmp_path):
    worst, intruders = 0.0, 0
    for i, (W0, update) in enumerate(_cases()):
        stored = _through_the_index(tmp_path / str(i), W0)
        got = analyze_matrix(W0, update, k=10, epsilon=0.5, base=stored)
        exact = analyze_matrix(W0, update, k=10, epsilon=0.5, base=base_spectrum(W0))
        ref = reference_intruders(W0, W0.double() + update.dense(F64), 10, 0.5)
        assert [t.intruder for t in got.top] == ref.intruder, i
        assert got.epsilon_counts == exact.epsilon_counts, i
        intruders += got.intruders
        # the storage alone (same float64 spectrum, rounded to float32 U) moves each max |cos| by < 1e-6
        worst = max(worst, max(abs(a.max_cos - b.max_cos) for a, b in zip(got.top, exact.top, strict=True)))
    assert worst < 1e-6
    assert intruders > 0  # planted updates did make intruders: the decisions compared were not all "no"


def test_decisions_within_1e5_of_epsilon_survive_storage_but_not_float16(tmp_path):
    """Tuned top vectors planted at |cos| = ε ± 5e-6 to one base vector: float32 U keeps all 40 verdicts."""
    g = torch.Generator().manual_seed(9)
    m, eps = 256, 0.5
    W0 = with_spectrum(m, m, 3 * decaying(m), g).float()
    stored = _through_the_index(tmp_path, W0)
    U0 = base_spectrum(W0).U
    half = BaseSpectrum(U=stored.U.half().float(), S=stored.S, method=stored.method)
    flips, near = 0, 0
    for j in range(40):
        c = eps + (5e-6 if j % 2 else -5e-6)
        i = (j * 5) % m
        w = torch.randn(m, generator=g, dtype=F64)
        w -= U0[:, i] * (U0[:, i] @ w)
        y = c * U0[:, i] + math.sqrt(1 - c * c) * w / w.norm()
        z = torch.randn(m, generator=g, dtype=F64)
        update = LowRankUpdate((1e4 * y)[:, None].float(), (z / z.norm())[None, :].float(), 1.0)
        ref = reference_intruders(W0, W0.double() + update.dense(F64), 1, eps)
        if abs(ref.max_cos[0] - eps) < 1e-6:
            continue  # closer to ε than float32 can promise: not a fair case
        near += abs(ref.max_cos[0] - eps) < 2e-5
        got = analyze_matrix(W0, update, k=1, epsilon=eps, map_size=1, base=stored)
        assert got.top[0].intruder == ref.intruder[0], (j, ref.max_cos[0], got.top[0].max_cos)
        flips += analyze_matrix(W0, update, k=1, epsilon=eps, map_size=1, base=half).top[0].intruder != ref.intruder[0]
    assert near >= 30  # the cases really sit at ε
    assert flips > 0  # and they are sharp enough to catch a too-coarse storage
