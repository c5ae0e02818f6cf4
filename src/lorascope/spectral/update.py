"""How a fine-tuned matrix is given to the spectral core: dense, or as W0 plus a low-rank product."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LowRankUpdate:
    """ΔW = scale · B @ A in the (out, in) orientation; the tuned matrix is W0 + ΔW.

    Kept factored so the core never forms (let alone decomposes) a dense update it does not need.
    """

    B: torch.Tensor  # (out, r)
    A: torch.Tensor  # (r, in)
    scale: float

    def __post_init__(self) -> None:
        if self.B.ndim != 2 or self.A.ndim != 2 or self.B.shape[1] != self.A.shape[0]:
            raise ValueError(f"LowRankUpdate needs B (m, r) and A (r, n); "
                             f"got {tuple(self.B.shape)} and {tuple(self.A.shape)}")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.B.shape[0], self.A.shape[1])

    @property
    def rank(self) -> int:
        return self.A.shape[0]

    def dense(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The dense ΔW (for references and small matrices only)."""
        return self.scale * (self.B.to(dtype) @ self.A.to(dtype))


Tuned = torch.Tensor | LowRankUpdate
"""A tuned matrix: either W_tuned itself (dense, (out, in)) or the update over W0."""
