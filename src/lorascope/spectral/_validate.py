"""Input checks shared by the room: one-line `InputError`s the caller prefixes with the tensor name."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from lorascope.errors import InputError
from lorascope.finite import all_finite
from lorascope.spectral.update import LowRankUpdate


def check_matrix(t: object, what: str = "matrix") -> torch.Tensor:
    """`t` as a 2-D, non-empty, finite floating tensor (unchanged); InputError otherwise."""
    if not isinstance(t, torch.Tensor):
        raise InputError(f"{what} must be a torch.Tensor; got {type(t).__name__}")
    if t.ndim != 2:
        raise InputError(f"{what} must be 2-D (out, in); got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise InputError(f"{what} must have a floating dtype; got {t.dtype}")
    if t.numel() == 0:
        raise InputError(f"{what} is empty: shape {tuple(t.shape)}")
    if not all_finite(t):
        raise InputError(f"{what} has non-finite values (nan or inf)")
    return t


def check_tuned(W0: torch.Tensor, tuned: object) -> None:
    """The tuned matrix (dense or factored) must match W0's shape and be finite."""
    shape = tuple(W0.shape)
    if isinstance(tuned, LowRankUpdate):
        check_matrix(tuned.B, "B of the low-rank update")
        check_matrix(tuned.A, "A of the low-rank update")
        if tuple(tuned.shape) != shape:
            raise InputError(f"low-rank update has shape {tuple(tuned.shape)}, W0 has {shape}")
        if not math.isfinite(float(tuned.scale)):
            raise InputError(f"low-rank update scale must be finite; got {tuned.scale!r}")
        return
    check_matrix(tuned, "tuned matrix")
    if tuple(tuned.shape) != shape:
        raise InputError(f"tuned matrix has shape {tuple(tuned.shape)}, W0 has {shape}")


def check_k(k: object, p: int, what: str = "k") -> int:
    """An integer in [1, p]."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise InputError(f"{what} must be an integer; got {k!r}")
    if not 1 <= k <= p:
        raise InputError(f"{what} must be in [1, {p}] (p = min(m, n)); got {k}")
    return k


def check_k_fits(name: str, shape: Sequence[int], k: int) -> None:
    """InputError naming matrix `name` when k exceeds min(shape), the number of singular vectors it has."""
    p = min(shape)
    if k > p:
        raise InputError(f"{name}: k={k} is larger than the matrix allows (min{tuple(shape)} = {p})")


def check_unit_interval(x: object, what: str) -> float:
    """A finite number in (0, 1]."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or not 0 < x <= 1:
        raise InputError(f"{what} must be a number in (0, 1]; got {x!r}")
    return float(x)
