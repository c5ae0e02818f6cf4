"""Matrices a scan finds unchanged: lora_B all zero (an untrained adapter), W_tuned equal to W0 (BASE saved again).

Either gives ΔW = 0 and 0 intruders by construction, which a user should hear about rather than read as a
result. The scan's solver threads note each matrix as it is loaded (a comparison far cheaper than its
solve); `warnings` turns the notes into the scan's warnings.
"""

from __future__ import annotations

import threading

import torch

from lorascope.spectral import LowRankUpdate

_SHOWN = 3  # matrices named in one warning


class UnchangedWatch:
    """Which analysed matrices of TUNED are unchanged from BASE (safe to call from several threads)."""

    def __init__(self, tuned: str, kind: str) -> None:
        self.tuned, self.kind = tuned, kind
        self._lock = threading.Lock()
        self.seen: list[str] = []  # matrices checked (LoRA factors for an adapter, every matrix for a checkpoint)
        self.unchanged: list[str] = []

    def note(self, name: str, W0: torch.Tensor, tuned: torch.Tensor | LowRankUpdate) -> None:
        """Record whether matrix `name` is unchanged: lora_B all zero, or a dense W_tuned equal to W0."""
        if isinstance(tuned, LowRankUpdate):
            same = not bool(torch.any(tuned.B))
        elif self.kind == "checkpoint":
            same = torch.equal(W0, tuned)
        else:
            return  # a DoRA merge or a replaced tensor of an adapter: not a lora_B to judge
        with self._lock:
            self.seen.append(name)
            if same:
                self.unchanged.append(name)

    def warnings(self) -> list[str]:
        """The scan's warnings about unchanged matrices (none when every checked matrix changed)."""
        n, zero = len(self.seen), sorted(self.unchanged)
        if not zero:
            return []
        if self.kind == "adapter":
            if len(zero) == n:
                return [f"TUNED {self.tuned}: lora_B is zero in every one of the {n} adapted matrices analysed (an "
                        "untrained adapter, e.g. saved at step 0): ΔW = 0, so 0 intruders by construction"]
            shown = ", ".join(zero[:_SHOWN]) + (f" and {len(zero) - _SHOWN} more" if len(zero) > _SHOWN else "")
            return [f"TUNED {self.tuned}: lora_B is zero in {len(zero)} of the {n} adapted matrices analysed "
                    f"({shown}): ΔW = 0 there, so they have 0 intruders by construction"]
        if len(zero) == n:
            return [f"TUNED {self.tuned}: every one of the {n} matrices analysed equals BASE exactly (BASE saved "
                    "again, or a run that never stepped?): ΔW = 0, so 0 intruders by construction"]
        return []  # some unchanged matrices are normal in a full fine-tune (frozen embeddings, ...)
