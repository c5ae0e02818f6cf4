"""Reusable float64 buffers for the big per-matrix upcasts (W0 or W_tuned, U0, a dense ΔW).

A fresh 128 MB tensor costs ~30 ms of page faults on first touch on the CPU, as much as the copy into it
and a thin product with it together. A scan analyses many same-shaped matrices, so it hands each worker
one Workspace and the upcasts land in the same memory every time. Nothing a function returns may alias a
buffer: the next call for the same role overwrites it. Not thread-safe: one Workspace per thread.
"""

from __future__ import annotations

import torch


class Workspace:
    """One flat float64 buffer per role, grown to the largest matrix seen and viewed at each shape."""

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def float64(self, role: str, t: torch.Tensor) -> torch.Tensor:
        """A float64 copy of `t` on t's device, in this role's buffer (valid until the next call for `role`)."""
        out = self._buffer(role, t.numel(), t.device)[: t.numel()].view(tuple(t.shape))
        out.copy_(t.detach())
        return out

    def reserve(self, role: str, numel: int, device: torch.device | str = "cpu") -> None:
        """Grow `role`'s buffer to `numel` floats now and touch its pages, so a later upcast finds it ready.

        A scan calls this while its reader is still loading the first matrix: the page faults of a fresh
        buffer then overlap that read instead of delaying the first solve.
        """
        self._buffer(role, numel, torch.device(device)).zero_()

    def _buffer(self, role: str, numel: int, device: torch.device) -> torch.Tensor:
        buffer = self._buffers.get(role)
        if buffer is None or buffer.numel() < numel or buffer.device != device:
            self._buffers.pop(role, None)  # free the old buffer before the larger one is allocated
            buffer = self._buffers[role] = torch.empty(numel, dtype=torch.float64, device=device)
        return buffer

    def clear(self) -> None:
        """Free every buffer (before a dense solve needs the memory more than the next upcast does)."""
        self._buffers.clear()

    def nbytes(self) -> int:
        """Bytes held by all buffers."""
        return sum(b.numel() * b.element_size() for b in self._buffers.values())


def upcast(t: torch.Tensor, role: str, workspace: Workspace | None, device: torch.device | None = None) -> torch.Tensor:
    """`t` as float64 on `device` (default: its own): in `workspace` when given and t is not float64 there already."""
    device = t.device if device is None else device
    if t.dtype == torch.float64 and t.device == device:
        return t.detach()
    if workspace is None:
        return t.detach().to(device=device, dtype=torch.float64)
    return workspace.float64(role, t.detach().to(device))
