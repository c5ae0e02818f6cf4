"""Whether a tuned matrix is its base exactly (ΔW = 0): then its answer needs no decomposition at all.

W_tuned = W0 has W0's own singular vectors: each top tuned vector is a base vector (max |cos| = 1 at its
own index, never an intruder), the similarity map is the identity, every update measure is 0. Partial
fine-tuning leaves most matrices of a full checkpoint so (frozen blocks), and an untrained adapter has B = 0.
"""

from __future__ import annotations

import torch

from lorascope.spectral.update import LowRankUpdate, Tuned


def unchanged(W0: torch.Tensor, tuned: Tuned) -> bool:
    """True when W_tuned equals W0 exactly: a dense W_tuned equal element for element (compared in the wider
    of the two dtypes, where both are exact), or a factored update with scale 0 or an all-zero factor."""
    if isinstance(tuned, LowRankUpdate):
        return tuned.scale == 0 or not bool(torch.any(tuned.B)) or not bool(torch.any(tuned.A))
    if tuple(tuned.shape) != tuple(W0.shape):
        return False
    dtype = torch.promote_types(W0.dtype, tuned.dtype)
    return torch.equal(W0.to(dtype), tuned.to(device=W0.device, dtype=dtype))
