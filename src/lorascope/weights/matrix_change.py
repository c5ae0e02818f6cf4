"""One analysed matrix and how it changes, as the writers (write_adapter, write_checkpoint, write_merged) apply it."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lorascope.spectral.operator import tuned_operator
from lorascope.weights.pairing import MatrixPair


@dataclass(frozen=True)
class MatrixChange:
    """W_tuned + Σ_j weights[j]·U[:, j]·V[:, j]ᵀ, or with `update_factor` f: W0 + f·ΔW; no change: W_tuned.

    U (m, t), V (n, t) are float64 in the pair's analysed (out, in) orientation.
    """

    pair: MatrixPair
    U: torch.Tensor | None = field(default=None, repr=False, compare=False)
    V: torch.Tensor | None = field(default=None, repr=False, compare=False)
    weights: tuple[float, ...] = ()
    update_factor: float | None = None

    def value(self) -> torch.Tensor:
        """W_tuned after the change: float64, analysed orientation (reads the pair's tensors)."""
        W0, tuned = self.pair.load()
        Wt = tuned_operator(W0, tuned).dense()
        if self.update_factor is not None:
            W0 = W0.to(torch.float64)
            return W0 + self.update_factor * (Wt - W0)
        if not self.weights:
            return Wt
        w = torch.tensor(self.weights, dtype=torch.float64)
        return Wt + (self.U * w) @ self.V.T


def as_stored(value: torch.Tensor, transposed: bool, dtype: torch.dtype) -> torch.Tensor:
    """An analysed-orientation value as the file stores it: transposed back where the file is (in, out), cast."""
    value = value.T if transposed else value
    return value.contiguous().to(dtype)
