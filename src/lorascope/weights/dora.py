"""DoRA merge: the tuned matrix is a magnitude-rescaled W0 + ΔW, so it is not W0 plus a low-rank update."""

from __future__ import annotations

from typing import Literal

import torch

from lorascope.spectral.update import LowRankUpdate


def dora_merged(
    w0: torch.Tensor, update: LowRankUpdate, magnitude: torch.Tensor, kind: Literal["linear", "embedding"]
) -> torch.Tensor:
    """PEFT's merged DoRA weight m ⊙ (W0 + ΔW) / ‖W0 + ΔW‖, float32, in the analysed orientation.

    Linear layers (out, in): the norm is taken per output row. Embedding tables (num_embeddings, dim): per
    embedding-dimension column, as PEFT's DoRA embedding layer does.
    """
    merged = w0.to(torch.float64) + update.dense(torch.float64)
    m = magnitude.to(torch.float64)
    if kind == "embedding":
        merged = merged * (m / torch.linalg.vector_norm(merged, dim=0)).unsqueeze(0)
    else:
        merged = merged * (m / torch.linalg.vector_norm(merged, dim=1)).unsqueeze(1)
    return merged.to(torch.float32)
