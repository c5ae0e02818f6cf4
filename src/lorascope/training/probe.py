"""Intruder dimensions of a model *while it trains*: base spectra once, then cheap top-k checks.

`IntruderProbe` snapshots W0 of each chosen matrix when it is created (for full fine-tuning, create it
before the first step; a LoRA layer's frozen base weight is W0 itself) and computes each base spectrum
once. `measure(model)` then finds the top-k left singular vectors of the current W0 + ΔW and their max
|cos| against every base left vector (PAPER.md §1.3).

Solvers for the top k of W0 + ΔW: "gram" (default) takes the top eigenvectors of the float64 Gram
matrix on the smaller side (one p×p eigh, p = min(m, n)); it matches a float64 SVD to ~1e-13 on
SmolLM2's matrices and is 5-10x faster there than `spectral.top_singular`, which "spectral" uses
(a LoRA update kept factored). The base spectra come from `spectra`: a float64 SVD by default; a
training run passes the base spectral index (lorascope.index), so each base matrix is decomposed once
per machine instead of once per run (about half a minute per run on Gemma-3-270M's 28 trained matrices).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from lorascope.errors import InputError
from lorascope.spectral import (
    BaseSpectrum,
    LowRankUpdate,
    base_spectrum,
    check_k_fits,
    intruder_mask,
    max_cos,
    top_singular,
)
from lorascope.spectral._validate import check_k
from lorascope.spectral.identical import unchanged
from lorascope.training.modeling import block_matrices, clean_name


@dataclass(frozen=True)
class MatrixProbe:
    """One matrix at one moment: top-k σ of W0 + ΔW, their max |cos| to the base, the intruder count."""

    name: str
    sigma: list[float]
    max_cos: list[float]
    intruders: int


def _weight_of(module: nn.Module) -> torch.Tensor:
    """The module's weight in the (out, in) orientation (GPT-2 Conv1D stores (in, out))."""
    w = module.weight
    return w.T if type(module).__name__ == "Conv1D" else w


def _is_lora(module: nn.Module) -> bool:
    return hasattr(module, "base_layer") and hasattr(module, "lora_A")


def current_tuned(module: nn.Module) -> tuple[torch.Tensor | None, torch.Tensor | LowRankUpdate]:
    """(frozen W0 if the module holds it, else None; the tuned matrix: dense or a LowRankUpdate)."""
    if not _is_lora(module):
        return None, _weight_of(module).detach()
    base = module.get_base_layer()
    W0 = _weight_of(base).detach()
    active = [a for a in module.active_adapters if a in module.lora_A]
    simple = (len(active) == 1 and not getattr(module, "merged", False)
              and not getattr(module, "use_dora", {}).get(active[0], False)
              and not getattr(module, "fan_in_fan_out", False))
    if simple:
        a = active[0]
        return W0, LowRankUpdate(module.lora_B[a].weight.detach(), module.lora_A[a].weight.detach(),
                                 float(module.scaling[a]))
    if getattr(module, "merged", False):
        return None, W0.clone()
    delta = sum(module.get_delta_weight(a).detach() for a in active)
    return W0, W0 + delta


def gram_top(W: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k left singular vectors (m, k) and values of W, from the float64 Gram matrix of its smaller side."""
    W = W.detach().to(torch.float64)
    m, n = W.shape
    if m <= n:
        lam, E = torch.linalg.eigh(W @ W.T)
        return E[:, -k:].flip(1).contiguous(), lam[-k:].flip(0).clamp_min(0).sqrt()
    lam, E = torch.linalg.eigh(W.T @ W)
    S = lam[-k:].flip(0).clamp_min(0).sqrt()
    U = W @ E[:, -k:].flip(1)
    return U / torch.where(S > 0, S, torch.ones_like(S)), S


class IntruderProbe:
    """Measures intruders of chosen matrices of a live model against their weights at creation time."""

    def __init__(self, model: nn.Module, names: Sequence[str] | None = None, *, pattern: str | None = None,
                 k: int = 10, epsilon: float = 0.5, solver: Literal["gram", "spectral"] = "gram",
                 spectra: Callable[[torch.Tensor], BaseSpectrum] | None = None) -> None:
        """`names`: module names without PEFT prefixes (default: all block matrices), kept if `pattern` hits.

        `spectra(W0)` gives a base spectrum (default: a float64 SVD here; a cached one must be of exactly W0).
        """
        chosen = list(names) if names is not None else block_matrices(model)
        if pattern is not None:
            regex = re.compile(pattern)
            chosen = [n for n in chosen if regex.search(n)]
        if not chosen:
            raise InputError("no matrix to monitor (check the names or the pattern)")
        modules = {clean_name(n): m for n, m in model.named_modules()}
        missing = [n for n in chosen if n not in modules]
        if missing:
            raise InputError(f"module(s) not in the model: {', '.join(missing[:5])}")
        if solver not in ("gram", "spectral"):
            raise InputError(f"solver must be 'gram' or 'spectral'; got {solver!r}")
        self.names = chosen
        self.solver = solver
        self.k = k
        self.epsilon = epsilon
        self._W0: dict[str, torch.Tensor | None] = {}
        self._base: dict[str, BaseSpectrum] = {}
        for name in chosen:
            W0, tuned = current_tuned(modules[name])
            if W0 is None:  # a plain matrix: its present value is the base
                W0 = tuned.detach().clone()
                self._W0[name] = W0
            else:
                self._W0[name] = None  # read from the LoRA layer each time (it is frozen)
            check_k_fits(name, tuple(W0.shape), k)
            check_k(k, min(W0.shape), f"{name}: k")
            self._base[name] = spectra(W0) if spectra is not None else base_spectrum(W0, method="svd")
        self.last_seconds = 0.0

    def _now(self, modules: dict[str, nn.Module], name: str) -> tuple[torch.Tensor, torch.Tensor | LowRankUpdate]:
        """(W0, the tuned matrix now) of one chosen matrix."""
        W0_live, tuned = current_tuned(modules[name])
        return (self._W0[name] if self._W0[name] is not None else W0_live), tuned

    @torch.no_grad()
    def all_unchanged(self, model: nn.Module) -> bool:
        """Whether every chosen matrix still equals its W0 exactly (no update yet, or a zero one)."""
        modules = {clean_name(n): m for n, m in model.named_modules()}
        return all(unchanged(*self._now(modules, name)) for name in self.names)

    @torch.no_grad()
    def measure(self, model: nn.Module) -> list[MatrixProbe]:
        """Top-k σ, max |cos| and intruder count of every chosen matrix, now."""
        start = time.perf_counter()
        modules = {clean_name(n): m for n, m in model.named_modules()}
        found = []
        for name in self.names:
            W0, tuned = self._now(modules, name)
            base = self._base[name]
            if unchanged(W0, tuned):  # step 0, or a frozen matrix: W0's own top vectors, no decomposition
                S = base.S[:self.k]
                found.append(MatrixProbe(name, [float(s) for s in S], [1.0] * self.k, 0))
                continue
            if self.solver == "gram":
                dense = W0 + tuned.dense(W0.dtype) if isinstance(tuned, LowRankUpdate) else tuned
                U, S = gram_top(dense, self.k)
            else:
                top = top_singular(W0, tuned, self.k, base=base)
                U, S = top.U, top.S
            cos, _ = max_cos(U, base.U)
            found.append(MatrixProbe(name, [float(s) for s in S], [float(c) for c in cos],
                                     int(intruder_mask(cos, self.epsilon).sum())))
        self.last_seconds = time.perf_counter() - start
        return found
