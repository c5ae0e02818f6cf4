"""Options of `scale` and the schema of its result (OUT/scale.json): what a run is asked, what it changed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from lorascope.errors import InputError
from lorascope.spectral.intervention import TARGETS

REPORT = "scale.json"


@dataclass(frozen=True)
class ScaleOptions:
    """Options of `scale`; every field is also a `lorascope scale` flag of the same name."""

    target: str = field(
        default="top-intruder", metadata={"help": "which singular values: " + ", ".join(TARGETS)}
    )
    k: int = field(default=10, metadata={"help": "top singular vectors of W_tuned examined per matrix"})
    epsilon: float = field(
        default=0.5, metadata={"help": "intruder iff max |cos| to every base vector < epsilon"}
    )
    merged: bool = field(
        default=False, metadata={"help": "write a full merged checkpoint, even for an adapter"}
    )
    force: bool = field(default=False, metadata={"help": "replace a non-empty output folder"})
    include: tuple[str, ...] = field(default=(), metadata={"help": "regexes: analyse only matching tensors"})
    exclude: tuple[str, ...] = field(default=(), metadata={"help": "regexes: skip matching tensors"})
    allow_missing: bool = field(
        default=False, metadata={"help": "report unpaired tensors instead of failing"}
    )
    allow_pickle: bool = field(
        default=False, metadata={"help": "read .bin/.pt with torch.load(weights_only=True)"}
    )
    solver: Literal["auto", "exact"] = field(default="auto", metadata={"help": "auto | exact (full SVDs)"})
    cache: bool = field(
        default=True, metadata={"help": "use and extend the base spectral index, as scan does"}
    )
    cache_dir: str | Path | None = field(default=None, metadata={"help": "index location (as scan's)"})

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise InputError(f"target must be one of {', '.join(TARGETS)}; got {self.target!r}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise InputError(f"k must be an integer ≥ 1; got {self.k!r}")
        eps = self.epsilon
        if isinstance(eps, bool) or not (
            isinstance(eps, (int, float)) and math.isfinite(eps) and 0 < eps <= 1
        ):
            raise InputError(f"epsilon must be in (0, 1]; got {eps!r}")
        if self.solver not in ("auto", "exact"):
            raise InputError(f"solver must be 'auto' or 'exact'; got {self.solver!r}")


@dataclass(frozen=True)
class ScaledMatrix:
    """One matrix the intervention changes: which singular triplets, and the intruder test behind the choice."""

    name: str  # tensor name in BASE
    shape: tuple[int, int]  # analysed (out, in) orientation
    source: str  # "checkpoint", "lora", "dora" or "replaced" (MatrixPair.source)
    indices: tuple[int, ...]  # scaled singular indices of W_tuned (empty for whole-update)
    sigmas: tuple[float, ...]  # their singular values σ_j = ‖W_tunedᵀ u_j‖
    max_cos: tuple[float, ...]  # their max |cos| to every base left singular vector
    intruders: tuple[int, ...]  # every intruder index among the top k
    solver: str
    U: torch.Tensor = field(repr=False, compare=False)  # (m, t) float64 left singular vectors
    V: torch.Tensor = field(repr=False, compare=False)  # (n, t) float64 right singular vectors

    def weights(self, lam: float) -> list[float]:
        """Coefficients of the rank-1 changes u_j v_jᵀ for λ: (λ − 1)·σ_j."""
        return [(lam - 1.0) * s for s in self.sigmas]

    def change(self, lam: float) -> torch.Tensor:
        """The dense change Σ_j (λ − 1)·σ_j·u_j·v_jᵀ, float64, analysed orientation."""
        w = torch.tensor(self.weights(lam), dtype=torch.float64)
        return (self.U * w) @ self.V.T

    def to_json(self, lam: float, target: str) -> dict:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "source": self.source,
            "target": target,
            "lambda": lam,
            "indices": list(self.indices),
            "sigma_before": list(self.sigmas),
            "sigma_after": [lam * s for s in self.sigmas],
            "max_cos": list(self.max_cos),
            "intruders": list(self.intruders),
            "solver": self.solver,
        }


@dataclass(frozen=True)
class ScaleResult:
    """What one `scale` run changed and wrote; `to_json()` is the content of OUT/scale.json."""

    version: str
    base: str
    tuned: str
    tuned_kind: str
    out: str
    output_format: Literal["adapter", "checkpoint"]
    options: ScaleOptions
    lambdas: tuple[float, ...]
    outputs: dict[float, str]  # λ -> folder relative to out ("." for a single λ)
    matrices: list[ScaledMatrix]
    untouched: list[str]  # analysed matrices left as they were (no intruder, or no neighbour)
    skipped: list[tuple[str, str]]
    warnings: list[str]
    notes: list[str]
    seconds: float = 0.0

    def to_json(self) -> dict:
        opts = self.options
        return {
            "lorascope_version": self.version,
            "base": self.base,
            "tuned": self.tuned,
            "tuned_kind": self.tuned_kind,
            "out": self.out,
            "output_format": self.output_format,
            "options": {
                "target": opts.target,
                "k": opts.k,
                "epsilon": opts.epsilon,
                "lambdas": list(self.lambdas),
                "merged": opts.merged,
                "include": list(opts.include),
                "exclude": list(opts.exclude),
                "allow_missing": opts.allow_missing,
                "solver": opts.solver,
                "cache": opts.cache,
            },
            "outputs": [
                {
                    "lambda": lam,
                    "path": path,
                    "matrices": [m.to_json(lam, opts.target) for m in self.matrices],
                }
                for lam, path in self.outputs.items()
            ],
            "modified_count": len(self.matrices),
            "untouched_count": len(self.untouched),
            "untouched": list(self.untouched),
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }


def parse_lambdas(lambdas: float | str | Sequence[float]) -> tuple[float, ...]:
    """λ values as floats: finite, ≥ 0, distinct, at least one; a comma-separated string is accepted."""
    if isinstance(lambdas, str):
        try:
            values = [float(x) for x in lambdas.split(",") if x.strip()]
        except ValueError:
            raise InputError(f"--lambda: expected comma-separated numbers, got {lambdas!r}") from None
    elif isinstance(lambdas, (int, float)) and not isinstance(lambdas, bool):
        values = [float(lambdas)]
    else:
        values = list(lambdas)
    if not values:
        raise InputError("--lambda: give at least one value")
    for lam in values:
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam < 0:
            raise InputError(f"--lambda: every λ must be a finite number ≥ 0; got {lam!r}")
    values = [float(v) for v in values]
    if len(set(values)) != len(values):
        raise InputError(f"--lambda: repeated value in {values}")
    return tuple(values)


def output_dirs(lambdas: Sequence[float]) -> dict[float, str]:
    """Folder of each λ's model inside OUT: OUT itself for one λ, else OUT/lambda-<λ>."""
    if len(lambdas) == 1:
        return {lambdas[0]: "."}
    return {lam: f"lambda-{lam!r}" for lam in lambdas}
