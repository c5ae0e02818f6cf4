"""Resumable training state: trainable tensors, optimiser, scheduler, RNG and data position, saved atomically.

Layout under the run's `state/` folder: one `step-NNNNNNNN/` directory per save (written under a
temporary name, then renamed) and a `LATEST` file naming the newest complete one (replaced
atomically). A kill at any moment leaves either the previous state or the new one.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from lorascope.atomic import atomic_write_text
from lorascope.errors import InputError

LATEST = "LATEST"


@dataclass(frozen=True)
class Position:
    """Where the loop is: optimiser steps done, and the next batch (epoch, index within the epoch)."""

    step: int
    epoch: int
    batch: int
    seconds: float  # wall-clock seconds of the run so far, over every session
    loss_sum: float  # training loss summed since the last evaluation
    loss_count: int
    step_seconds: float  # seconds spent in optimiser steps since the last evaluation


def save_state(folder: Path, position: Position, params: dict[str, torch.Tensor], optimizer,
               scheduler) -> Path:
    """Write a complete state for `position.step` and point LATEST at it; older states are removed."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    name = f"step-{position.step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder))
    try:
        save_file({k: v.detach().contiguous() for k, v in params.items()}, str(tmp / "params.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(), "python_rng": random.getstate()}, tmp / "optim.pt")
        (tmp / "position.json").write_text(json.dumps(asdict(position)))
        target = folder / name
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(folder / LATEST, name)
    for old in folder.iterdir():
        if old.is_dir() and old.name != name:
            with contextlib.suppress(OSError):
                shutil.rmtree(old)
    return target


def latest_state(folder: Path) -> Path | None:
    """The newest complete state directory, or None when there is none."""
    pointer = folder / LATEST
    if not pointer.is_file():
        return None
    target = folder / pointer.read_text().strip()
    if not (target / "position.json").is_file():
        raise InputError(f"{pointer}: names {target.name}, which is missing or incomplete")
    return target


def load_state(target: Path, params: dict[str, torch.nn.Parameter], optimizer, scheduler) -> Position:
    """Restore everything `save_state` wrote into the live objects; returns the position to continue from."""
    from safetensors.torch import load_file

    saved = load_file(str(target / "params.safetensors"))
    if set(saved) != set(params):
        raise InputError(f"{target}: the saved trainable tensors do not match this run's "
                         f"({len(saved)} saved, {len(params)} expected)")
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(saved[k])
    rest = torch.load(target / "optim.pt", weights_only=False)
    optimizer.load_state_dict(rest["optimizer"])
    scheduler.load_state_dict(rest["scheduler"])
    torch.set_rng_state(rest["torch_rng"])
    random.setstate(rest["python_rng"])
    return Position(**json.loads((target / "position.json").read_text()))
