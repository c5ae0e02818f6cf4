"""Watch intruder dimensions appear while a model trains, from any loop or from transformers' Trainer.

    monitor = IntruderMonitor(model, "intruders.jsonl", every=50, pattern=r"self_attn")
    for step in ...:                      # a plain loop
        ...; monitor.step(model, step)
    trainer = Trainer(..., callbacks=[monitor.callback()])   # or transformers' Trainer

Create the monitor before the first optimiser step: it takes each chosen matrix's current value as
W0 (a PEFT LoRA layer's frozen base weight is used as is) and computes the base spectra once. Every
`every` steps it records, per matrix, the top-k singular values of W0 + ΔW, their max |cos| to all
base left singular vectors and the intruder count, as JSON lines:

    {"step": int, "matrix": str, "sigma": [float], "max_cos": [float], "intruders": int, "seconds": float}

(`seconds`: time the whole measurement took at that step). If `torch.utils.tensorboard` and
tensorboard are importable and `tensorboard_dir` is given, the total and per-matrix counts are
also written as scalars. `IntruderCallback` is a `transformers.TrainerCallback`, created on first
use so that importing lorascope does not import transformers.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from lorascope.training.probe import IntruderProbe, MatrixProbe


class IntruderMonitor:
    """Every `every` steps, measure intruders of the chosen matrices and log them (JSONL, TensorBoard)."""

    def __init__(self, model: nn.Module, path: str | Path | None = None, *, every: int = 50,
                 pattern: str | None = None, names: list[str] | None = None, k: int = 10,
                 epsilon: float = 0.5, tensorboard_dir: str | Path | None = None) -> None:
        if every < 1:
            raise ValueError(f"every must be ≥ 1; got {every}")
        self.every = every
        self.probe = IntruderProbe(model, names, pattern=pattern, k=k, epsilon=epsilon)
        self.path = None if path is None else Path(path)
        self.history: list[dict] = []
        self._writer = _tensorboard(tensorboard_dir)

    @property
    def names(self) -> list[str]:
        return self.probe.names

    def step(self, model: nn.Module, step: int, force: bool = False) -> list[MatrixProbe] | None:
        """Measure at multiples of `every` (or when `force`); returns the per-matrix results, else None."""
        if not force and step % self.every:
            return None
        probes = self.probe.measure(model)
        rows = [{"step": step, "matrix": p.name, "sigma": p.sigma, "max_cos": p.max_cos,
                 "intruders": p.intruders, "seconds": round(self.probe.last_seconds, 4)} for p in probes]
        self.history.extend(rows)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as f:
                f.write("".join(json.dumps(r) + "\n" for r in rows))
        if self._writer is not None:
            self._writer.add_scalar("intruders/total", sum(p.intruders for p in probes), step)
            for p in probes:
                self._writer.add_scalar(f"intruders/{p.name}", p.intruders, step)
            self._writer.flush()
        return probes

    def callback(self):
        """A transformers TrainerCallback that calls `step` after every optimiser step."""
        return _callback_class()(self)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _tensorboard(folder: str | Path | None):
    if folder is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(folder))


def _callback_class():
    """The TrainerCallback subclass, built once (transformers is imported only then)."""
    if "IntruderCallback" in globals():
        return globals()["IntruderCallback"]
    from transformers import TrainerCallback

    class IntruderCallback(TrainerCallback):
        """Runs an IntruderMonitor at the end of every Trainer step (on the model the Trainer passes)."""

        def __init__(self, monitor: IntruderMonitor) -> None:
            self.monitor = monitor

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if model is not None:
                self.monitor.step(model, state.global_step)
            return control

        def on_train_end(self, args, state, control, **kwargs):
            self.monitor.close()
            return control

    globals()["IntruderCallback"] = IntruderCallback
    return IntruderCallback


def __getattr__(name: str):
    if name == "IntruderCallback":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
