"""Legacy pickled weights (`*.bin`, `*.pt`): refused by default, else read by the weights-only unpickler."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from lorascope.errors import InputError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


def refuse_pickle(path: Path) -> InputError:
    """The error for a pickle met without allow_pickle: unpickling can run code, so it must be asked for."""
    return InputError(
        f"{path}: pickled weights can run code when loaded; convert them to .safetensors, or pass "
        "allow_pickle=True (--allow-pickle) to read them with torch.load(weights_only=True)"
    )


def load_pickle_state(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a pickled state dict, memory-mapped when possible; anything but plain tensors is refused."""
    try:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as err:
            if "mmap" not in str(err):
                raise
            loaded = torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: refused: the pickle holds more than plain tensors ({first})") from err
    except (OSError, RuntimeError, EOFError, ValueError) as err:
        raise InputError(f"{path}: cannot read pickled weights: {err}") from err
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        raise InputError(f"{path}: pickled object is a {type(loaded).__name__}, not a state dict")
    tensors = {k: v for k, v in loaded.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise InputError(f"{path}: pickled state dict holds no tensors")
    return tensors
