"""The precision the index stores a base spectrum in, applied with or without a cache so results agree.

U is stored as float32 and S as float64. spectral/basis.py documents float32 U as moving each cosine by
~1e-7 (float16, ~5e-4, can flip verdicts near ε); tests/index/test_precision.py checks that no intruder
decision changes against the float64 reference. S costs p numbers, so it stays float64. Every scan
(cold, warm or --no-cache) analyses this rounded spectrum, so the three give identical results.
"""

from __future__ import annotations

import torch

from lorascope.spectral import BaseSpectrum

U_DTYPE = torch.float32
S_DTYPE = torch.float64


def as_stored(spectrum: BaseSpectrum) -> BaseSpectrum:
    """`spectrum` rounded to the stored precision, on the CPU (what a later read of the entry returns)."""
    return BaseSpectrum(U=spectrum.U.detach().to(device="cpu", dtype=U_DTYPE).contiguous(),
                        S=spectrum.S.detach().to(device="cpu", dtype=S_DTYPE).contiguous(),
                        method=spectrum.method)


def for_solving(spectrum: BaseSpectrum, device: torch.device) -> BaseSpectrum:
    """The stored values on `device`: U stays float32 (the big products with it run in float32, as
    precise as the stored values themselves), S float64. Every scan path calls this, so cold, warm and
    --no-cache scans analyse identical numbers.
    """
    return BaseSpectrum(U=spectrum.U.to(device=device, dtype=U_DTYPE),
                        S=spectrum.S.to(device=device, dtype=torch.float64), method=spectrum.method)
