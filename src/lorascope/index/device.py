"""Which torch device solves: "cpu" (default), "cuda" / "cuda:N" when present, or "auto"."""

from __future__ import annotations

import torch

from lorascope.errors import InputError


def resolve_device(name: str | torch.device) -> torch.device:
    """The torch.device for `name`; InputError when it is malformed or not present on this machine."""
    text = str(name).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise InputError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got {name!r}") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise InputError(f"device {name!r}: only 'cpu' and 'cuda' are supported")
    if not torch.cuda.is_available():
        raise InputError(f"device {name!r}: CUDA is not available here (torch {torch.__version__}); use --device cpu")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    return device
